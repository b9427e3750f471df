// Fails when src/api/schema.d.ts is not what `npm run gen:api` makes from ../openapi.json.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import openapiTS, { astToString } from 'openapi-typescript'

const root = new URL('..', import.meta.url)
const spec = new URL('../openapi.json', root)
const committed = readFileSync(fileURLToPath(new URL('src/api/schema.d.ts', root)), 'utf8')
const fresh = astToString(await openapiTS(spec))
const strip = (text) => text.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim()
if (strip(committed) !== strip(fresh)) {
  console.error('web/src/api/schema.d.ts is out of date with openapi.json: run `npm --prefix web run gen:api`.')
  process.exit(1)
}
console.log('API types match openapi.json.')
