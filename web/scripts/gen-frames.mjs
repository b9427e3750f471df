// The WebSocket frames as TypeScript, from the JSON Schemas in ../asyncapi.json (components.schemas).
// `npm run gen:frames` writes src/api/frames.d.ts; check-api.mjs compares that file with framesSource().
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { compile } from 'json-schema-to-typescript'

const root = new URL('..', import.meta.url)
export const SPEC = new URL('../asyncapi.json', root)
export const OUTPUT = new URL('src/api/frames.d.ts', root)
const COMPONENT_REF = '#/components/schemas/'
const VALUES = ['default', 'const', 'enum', 'examples']
/** Keywords that give a schema a shape; a schema with none of them accepts any value. */
const ANY_KEYWORDS = ['type', '$ref', 'anyOf', 'oneOf', 'allOf', 'enum', 'const', 'properties', 'items']

const BANNER = `/**
 * The WebSocket frames both ways (generated from asyncapi.json by \`npm run gen:frames\`; do not edit:
 * change src/televisit/signaling/frames.py, then run \`make openapi\`).
 */`

/**
 * The component schemas as one JSON Schema document: refs point into `definitions`, and only
 * the components keep a title (json-schema-to-typescript names a type after every title, so the
 * titles pydantic puts on each property would become dozens of aliases such as `RoomId1`).
 */
function definitions(schemas) {
  const walk = (node, top) => {
    if (Array.isArray(node)) return node.map((item) => walk(item, false))
    if (node === null || typeof node !== 'object') return node
    const out = {}
    for (const [key, value] of Object.entries(node)) {
      if (key === 'title' && !top) continue
      if (key === 'discriminator') continue // a name only; each member's `type` const says it all
      if (VALUES.includes(key)) {
        out[key] = value // JSON values, not schemas
      } else if (key === '$ref' && typeof value === 'string' && value.startsWith(COMPONENT_REF)) {
        out.$ref = `#/definitions/${value.slice(COMPONENT_REF.length)}`
      } else {
        // `properties` maps names to schemas: its keys are not keywords.
        out[key] = key === 'properties'
          ? Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, walk(schema, false)]))
          : walk(value, false)
      }
    }
    // A property with no schema (pydantic's `Any`) holds any JSON: json-schema-to-typescript
    // would make it an object.
    if (!top && !ANY_KEYWORDS.some((k) => k in node)) out.tsType = 'unknown'
    return out
  }
  return Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, walk(schema, true)]))
}

/** `type` → frame, for one union: what `ServerFrameOf<'chat.message'>` looks up. */
function frameMap(name, schemas) {
  const lines = schemas[name].oneOf.map(({ $ref }) => {
    const member = $ref.slice(COMPONENT_REF.length)
    const type = schemas[member]?.properties?.type?.const
    if (typeof type !== 'string') throw new Error(`${member} has no \`type\` const in asyncapi.json`)
    return `  ${JSON.stringify(type)}: ${member};`
  })
  return `export interface ${name}Map {\n${lines.join('\n')}\n}`
}

const HELPERS = `/** The \`type\` of every frame the server sends / a client sends. */
export type ServerFrameType = keyof ServerFrameMap;
export type ClientFrameType = keyof ClientFrameMap;
/** The frame of one \`type\`: \`ServerFrameOf<'chat.message'>\` is \`ChatMessage\`. */
export type ServerFrameOf<T extends ServerFrameType> = ServerFrameMap[T];
export type ClientFrameOf<T extends ClientFrameType> = ClientFrameMap[T];
`

export async function framesSource(spec = SPEC) {
  const schemas = JSON.parse(readFileSync(fileURLToPath(spec), 'utf8')).components.schemas
  // The root only ties the two unions together; `unreachableDefinitions` emits every component.
  const document = {
    title: 'Frame',
    description: 'Any frame, either way.',
    oneOf: [{ $ref: '#/definitions/ClientFrame' }, { $ref: '#/definitions/ServerFrame' }],
    definitions: definitions(schemas),
  }
  // additionalProperties: false: no index signature on frames whose schema does not ask for one.
  const types = await compile(document, 'Frame', {
    bannerComment: BANNER, additionalProperties: false, unreachableDefinitions: true, format: true,
  })
  return [types.trimEnd(), frameMap('ClientFrame', schemas), frameMap('ServerFrame', schemas), HELPERS].join('\n\n')
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(fileURLToPath(OUTPUT), await framesSource())
  console.log(`wrote ${fileURLToPath(OUTPUT)}`)
}
