/**
 * Imported first by main.ts: its body runs before any other module is evaluated, and so before the
 * router reads (and would write back) the address with the token in it.
 */
import { captureLinkToken } from './linkToken'

captureLinkToken()
