//! The byte follower of an array element: where it ends, whether it is broken, and
//! where the next element may begin after a broken one.

/// What [`Scan::step`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// The element ends at this byte (a `,` or `]` outside strings and brackets).
    End,
    /// This byte shows the element broken: look for the seam in what is kept of it.
    Broken,
    /// The element is broken, and what follows the `,` after `cut` looks like the next
    /// element: a JSON object from `next` to `end`, followed by the `,` or `]` at this
    /// byte. The reader checks it before resuming there.
    Resume { cut: usize, next: usize, end: usize },
}

/// Follows one array element byte by byte: where it ends; whether it is already
/// broken (brackets that do not match, a value right after a value: what no valid
/// JSON has); and, at each `,` `{` that may be the seam between a broken element and
/// the next one, a second, fresh follower of the object that starts there.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) in_string: bool,
    pub(super) escaped: bool,
    /// Open brackets, `{` or `[`.
    pub(super) open: Vec<u8>,
    /// A value just ended: only `,` `:` `}` `]` or whitespace may come next.
    pub(super) after_value: bool,
    /// Inside a number or `true`/`false`/`null`.
    pub(super) in_scalar: bool,
    pub(super) broken: bool,
    /// Looking for the seam after the broken element (bytes are followed twice from
    /// here on: only broken elements pay for it).
    pub(super) resyncing: bool,
    /// 2 after a `,` (whitespace allowed after it).
    pub(super) seam: u8,
    /// Just after the last byte before that `,` that is not whitespace.
    pub(super) seam_cut: usize,
    /// Just after the last byte that is not whitespace.
    pub(super) last_end: usize,
    pub(super) shadow: Option<Shadow>,
}

/// The candidate next element, followed from its `{`.
#[derive(Debug)]
pub(super) struct Shadow {
    cut: usize,
    start: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Just after its closing `}`, once seen.
    end: Option<usize>,
}

impl Scan {
    #[inline]
    pub(super) fn step(&mut self, b: u8, at: usize, whole: bool) -> Option<Step> {
        let was_broken = self.broken;
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                self.after_value = true;
            }
        } else {
            match b {
                b',' | b']' if self.open.is_empty() => return Some(Step::End),
                b'"' => {
                    self.broken |= self.after_value || self.in_scalar;
                    self.in_string = true;
                    self.in_scalar = false;
                }
                b'{' | b'[' => {
                    self.broken |= self.after_value || self.in_scalar;
                    self.open.push(b);
                    self.after_value = false;
                    self.in_scalar = false;
                }
                b'}' | b']' => {
                    let opened = if b == b'}' { b'{' } else { b'[' };
                    self.broken |= self.open.pop() != Some(opened);
                    self.after_value = true;
                    self.in_scalar = false;
                }
                b',' | b':' => {
                    self.after_value = false;
                    self.in_scalar = false;
                }
                b' ' | b'\t' | b'\n' | b'\r' => {
                    if self.in_scalar {
                        self.in_scalar = false;
                        self.after_value = true;
                    }
                }
                _ => {
                    self.broken |= self.after_value;
                    self.in_scalar = true;
                }
            }
        }
        if !whole {
            return None;
        }
        if !self.resyncing {
            // The seam may lie before this byte: the reader looks back through the
            // element kept so far, then on from here.
            return (self.broken && !was_broken).then_some(Step::Broken);
        }
        self.look(b, at)
    }

    /// The seam and the element after it, byte by byte (see [`Step::Resume`]).
    pub(super) fn look(&mut self, b: u8, at: usize) -> Option<Step> {
        if let Some(found) = self.follow_shadow(b, at) {
            return Some(found);
        }
        self.seam_step(b, at);
        None
    }

    /// The seam, by bytes alone (a broken element's strings cannot be trusted): `,`
    /// then `{`, whitespace allowed around; the cut is after the last byte before the
    /// `,` that is not whitespace.
    pub(super) fn seam_step(&mut self, b: u8, at: usize) {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => return,
            b',' => {
                self.seam = 2;
                self.seam_cut = self.last_end;
            }
            b'{' if self.seam == 2 => {
                self.seam = 0;
                if self.shadow.is_none() {
                    self.shadow = Some(Shadow {
                        cut: self.seam_cut,
                        start: at,
                        depth: 1,
                        in_string: false,
                        escaped: false,
                        end: None,
                    });
                }
            }
            _ => self.seam = 0,
        }
        self.last_end = at + 1;
    }

    /// Follows the candidate next element; `Resume` once it closed and a `,` or `]`
    /// follows it.
    pub(super) fn follow_shadow(&mut self, b: u8, at: usize) -> Option<Step> {
        let sh = self.shadow.as_mut()?;
        if at == sh.start {
            return None;
        }
        if let Some(end) = sh.end {
            return match b {
                b' ' | b'\t' | b'\n' | b'\r' => None,
                b',' | b']' => Some(Step::Resume {
                    cut: sh.cut,
                    next: sh.start,
                    end,
                }),
                _ => {
                    self.shadow = None;
                    None
                }
            };
        }
        if sh.in_string {
            if sh.escaped {
                sh.escaped = false;
            } else if b == b'\\' {
                sh.escaped = true;
            } else if b == b'"' {
                sh.in_string = false;
            }
            return None;
        }
        match b {
            b'"' => sh.in_string = true,
            b'{' | b'[' => sh.depth += 1,
            b'}' | b']' => {
                sh.depth -= 1;
                if sh.depth == 0 {
                    sh.end = Some(at + 1);
                }
            }
            _ => {}
        }
        None
    }
}

/// The first key of a JSON object's bytes, with its quotes: `{ "order_id": …` gives
/// `"order_id"`.
pub(super) fn first_key_of(object: &[u8]) -> Option<&[u8]> {
    let rest = object.strip_prefix(b"{")?;
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[start..];
    if rest.first() != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some(&rest[..=i]);
        }
    }
    None
}

/// Whether `object` may be the element after a broken one: a valid JSON object whose
/// first key is the one good elements start with (so that an object nested in the
/// broken element is not taken for a record).
pub(super) fn starts_a_record(object: &[u8], first_key: Option<&[u8]>) -> bool {
    let Some(key) = first_key else {
        return false;
    };
    first_key_of(object) == Some(key)
        && serde_json::from_slice::<serde::de::IgnoredAny>(object).is_ok()
}
