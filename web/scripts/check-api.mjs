// The web app's contracts, checked (make test runs this):
// - ../asyncapi.json is a valid AsyncAPI 3.0 document (the official parser; any error fails),
// - src/api/schema.d.ts is what `npm run gen:api` makes from ../openapi.json,
// - src/api/frames.d.ts is what `npm run gen:frames` makes from ../asyncapi.json.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DiagnosticSeverity, Parser } from '@asyncapi/parser'
import openapiTS, { astToString } from 'openapi-typescript'
import { framesSource, OUTPUT as FRAMES, SPEC as ASYNCAPI } from './gen-frames.mjs'

const root = new URL('..', import.meta.url)
const read = (url) => readFileSync(fileURLToPath(url), 'utf8')
const failures = []

async function checkAsyncApi() {
  const { document, diagnostics } = await new Parser().parse(read(ASYNCAPI), { source: fileURLToPath(ASYNCAPI) })
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error)
  for (const d of errors) failures.push(`asyncapi.json: ${d.message} (at ${d.path.join('.') || 'the root'}; ${d.code})`)
  if (!document && errors.length === 0) failures.push('asyncapi.json: the AsyncAPI parser returned no document.')
}

async function checkRestTypes() {
  const fresh = astToString(await openapiTS(new URL('../openapi.json', root)))
  const strip = (text) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim()
  if (strip(read(new URL('src/api/schema.d.ts', root))) !== strip(fresh)) {
    failures.push('web/src/api/schema.d.ts is out of date with openapi.json: run `npm --prefix web run gen:api`.')
  }
}

async function checkFrameTypes() {
  if (read(FRAMES) !== (await framesSource())) {
    failures.push('web/src/api/frames.d.ts is out of date with asyncapi.json: run `npm --prefix web run gen:frames`.')
  }
}

await checkAsyncApi()
await checkRestTypes()
await checkFrameTypes()
if (failures.length) {
  for (const failure of failures) console.error(failure)
  process.exit(1)
}
console.log('asyncapi.json is valid AsyncAPI 3.0; API types match openapi.json; frame types match asyncapi.json.')
