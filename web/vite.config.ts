import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'
import type { HtmlTagDescriptor, Plugin } from 'vite'

/**
 * index.html preloads the app (src/app.ts: its chunk, the chunks it imports and their styles)
 * beside the small entry that loads it (src/main.ts). Without this the app's files would be
 * asked for only once the entry had run: a second round of requests on every load. The entry
 * script is `async`.
 */
function preloadApp(): Plugin {
  return {
    name: 'televisit:preload-app',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        const bundle = ctx.bundle
        if (!bundle) return []
        const app = Object.values(bundle).find((c) => c.type === 'chunk' && c.facadeModuleId?.endsWith('/src/app.ts'))
        if (!app || app.type !== 'chunk') throw new Error('preloadApp: no chunk for src/app.ts')
        const scripts: string[] = []
        const styles: string[] = []
        const visit = (file: string): void => {
          const chunk = bundle[file]
          if (!chunk || chunk.type !== 'chunk' || scripts.includes(file)) return
          scripts.push(file)
          for (const css of chunk.viteMetadata?.importedCss ?? []) if (!styles.includes(css)) styles.push(css)
          chunk.imports.forEach(visit)
        }
        visit(app.fileName)
        const inHtml = (file: string) => html.includes(`/${file}"`)
        const tags: HtmlTagDescriptor[] = [
          ...styles.filter((f) => !inHtml(f)).map((f) => ({ tag: 'link', attrs: { rel: 'stylesheet', crossorigin: true, href: `/${f}` }, injectTo: 'head' as const })),
          ...scripts.filter((f) => !inHtml(f)).map((f) => ({
            tag: 'link',
            // data-app: the entry loads the app from here (src/main.ts).
            attrs: { rel: 'modulepreload', crossorigin: true, href: `/${f}`, ...(f === app.fileName ? { 'data-app': true } : {}) },
            injectTo: 'head' as const,
          })),
        ]
        // The entry runs as soon as it has arrived, not once the document is parsed: it waits for
        // nothing (the app it loads runs after the parse, see src/main.ts).
        const entry = html.replace(/<script type="module" crossorigin src=/, '<script type="module" async crossorigin src=')
        if (entry === html) throw new Error('preloadApp: no entry script in index.html')
        return { html: entry, tags }
      },
    },
  }
}

// The backend serves the build at / (src/televisit/web/spa.py); `npm run dev` proxies the API to it.
export default defineConfig({
  plugins: [vue(), preloadApp()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  build: {
    outDir: '../src/televisit/web/dist',
    emptyOutDir: true,
    sourcemap: false,
    // No inline scripts or data: URLs for modules: the CSP allows scripts from 'self' only.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8000', ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
  },
})
