/**
 * The admin area's two pieces with rules of their own: the confirm dialog keeps the keyboard
 * inside and gives focus back, and the CSV download sends the token in a header, never a URL.
 */
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h, nextTick, ref } from 'vue'
import { signInForTest } from '@/testing/session'
import { useSessionStore } from '@/stores/session'
import ConfirmDialog from './ConfirmDialog.vue'
import { downloadAuditCsv } from './api'

beforeEach(() => {
  signInForTest({ id: 'a', email: 'a@x', full_name: 'Ada', role: 'admin' }, 'secret-token')
  setActivePinia(createPinia())
  useSessionStore()
})
afterEach(() => {
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
  sessionStorage.clear()
  document.body.innerHTML = ''
})

function host() {
  const open = ref(false)
  const cancelled = ref(0)
  const Host = defineComponent(() => () => h('div', [
    h('button', { id: 'opener', onClick: () => (open.value = true) }, 'Deactivate'),
    h(ConfirmDialog, {
      open: open.value, title: 'Deactivate this account?', confirmLabel: 'Deactivate', danger: true,
      onCancel: () => { cancelled.value += 1; open.value = false },
    }, () => h('p', 'They will be signed out.')),
  ]))
  return { wrapper: mount(Host, { attachTo: document.body }), open, cancelled }
}

describe('ConfirmDialog', () => {
  it('moves focus in, keeps Tab inside, cancels on Escape and gives focus back', async () => {
    const { wrapper, open, cancelled } = host()
    const opener = wrapper.get('#opener').element as HTMLButtonElement
    opener.focus()
    await wrapper.get('#opener').trigger('click')
    await flushPromises()
    const dialog = wrapper.get('dialog').element as HTMLDialogElement
    expect(dialog.open).toBe(true)
    const [cancel, confirm] = wrapper.findAll('dialog button').map((b) => b.element as HTMLButtonElement)
    expect(document.activeElement).toBe(cancel)
    expect(dialog.getAttribute('aria-labelledby')).toBeTruthy()
    expect(document.getElementById(dialog.getAttribute('aria-labelledby')!)?.textContent).toBe('Deactivate this account?')

    confirm.focus()
    await wrapper.get('dialog').trigger('keydown', { key: 'Tab' })
    expect(document.activeElement).toBe(cancel)
    await wrapper.get('dialog').trigger('keydown', { key: 'Tab', shiftKey: true })
    expect(document.activeElement).toBe(confirm)

    dialog.dispatchEvent(new Event('cancel', { cancelable: true }))
    await flushPromises()
    await nextTick()
    expect(cancelled.value).toBe(1)
    expect(open.value).toBe(false)
    expect(dialog.open).toBe(false)
    expect(document.activeElement).toBe(opener)
    wrapper.unmount()
  })
})

describe('downloadAuditCsv', () => {
  it('fetches with the bearer header and hands the file over through a blob URL', async () => {
    const requests: Request[] = []
    vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
      requests.push(request)
      return new Response('id,occurred_at\n', { status: 200, headers: { 'content-type': 'text/csv' } })
    }))
    const created = vi.spyOn(URL, 'createObjectURL').mockReturnValue('blob:http://app/123')
    const clicks: HTMLAnchorElement[] = []
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) { clicks.push(this) })

    const name = await downloadAuditCsv({ action: 'admin.users.deactivate' }, new Date('2030-03-04T09:05:06Z'))

    expect(requests).toHaveLength(1)
    const url = new URL(requests[0].url)
    expect(url.pathname).toBe('/api/v1/admin/audit.csv')
    expect(url.searchParams.get('action')).toBe('admin.users.deactivate')
    expect(requests[0].url).not.toContain('secret-token')
    expect(requests[0].headers.get('Authorization')).toBe('Bearer secret-token')
    expect(created).toHaveBeenCalledOnce()
    expect(await (created.mock.calls[0][0] as Blob).text()).toBe('id,occurred_at\n')
    expect(name).toBe('televisit-audit-20300304T090506Z.csv')
    expect(clicks).toHaveLength(1)
    expect(clicks[0].href).toBe('blob:http://app/123')
    expect(clicks[0].download).toBe(name)
  })
})
