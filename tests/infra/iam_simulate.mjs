// Evaluates IAM requests with @cloud-copilot/iam-simulate, for tests/infra/iam_check.py.
//
//   node tests/infra/iam_simulate.mjs <dir with node_modules/@cloud-copilot/iam-simulate>
//
// stdin: {"policies": {name: policy document},
//         "queries": [{"id", "principal", "identity": [policy names], "resourcePolicy": name|null,
//                      "action", "resource", "accountId", "context": {key: value or [values]}}]}
// stdout: [{"id", "result": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied"|"Error",
//           "allowedBy": [[policy name, statement Sid or 1-based index], ...], "errors": ...}]
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import path from 'node:path'

const dir = process.argv[2]
if (!dir) {
  console.error('usage: iam_simulate.mjs <install dir>')
  process.exit(2)
}
const require = createRequire(path.join(path.resolve(dir), 'package.json'))
const entry = require.resolve('@cloud-copilot/iam-simulate')
const { runSimulation } = await import(pathToFileURL(entry).href)

let input = ''
for await (const chunk of process.stdin) input += chunk
const { policies, queries } = JSON.parse(input)

const out = []
for (const q of queries) {
  const simulation = {
    identityPolicies: q.identity.map((name) => ({ name, policy: policies[name] })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: {
      principal: q.principal,
      action: q.action,
      resource: { resource: q.resource, accountId: q.accountId },
      contextVariables: q.context || {}
    }
  }
  if (q.resourcePolicy) simulation.resourcePolicy = policies[q.resourcePolicy]
  let response
  try {
    response = await runSimulation(simulation, {})
  } catch (e) {
    out.push({ id: q.id, result: 'Error', errors: String(e && e.stack ? e.stack : e) })
    continue
  }
  if (response.resultType === 'error') {
    out.push({ id: q.id, result: 'Error', errors: response.errors })
    continue
  }
  const results = response.resultType === 'single' ? [response.result] : response.results
  const allowedBy = []
  for (const r of results) {
    for (const s of r?.analysis?.identityAnalysis?.allowStatements || []) {
      allowedBy.push([s.policyId, s.explain?.identifier ?? s.statementId])
    }
  }
  out.push({ id: q.id, result: response.overallResult, allowedBy })
}
process.stdout.write(JSON.stringify(out))
