/**
 * The ringing dialog is modal for the keyboard: focus goes in, Tab wraps inside, and it comes back.
 * axe-core checks both of its states here (ringing, and "Connecting…" after Accept, which lasts at
 * most 300 ms and so is out of the browser tests' reach); jsdom has no layout, so colour contrast
 * is left to the browser tests, which check the ringing card in Chromium.
 */
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import axe from 'axe-core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { useIncomingStore } from '@/stores/incoming'
import { ScriptedSocket } from '@/testing/scriptedSocket'
import IncomingCall from './IncomingCall.vue'

const Page = defineComponent({ render: () => h('p', 'page') })

async function setup() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ path: '/', component: Page }, { path: '/visits/:id/call', name: 'call', component: Page }],
  })
  await router.push('/')
  const before = document.createElement('button')
  before.textContent = 'Sign out'
  document.body.appendChild(before)
  before.focus()
  const wrapper = mount(IncomingCall, { global: { plugins: [router] }, attachTo: document.body })
  const incoming = useIncomingStore()
  incoming.current = { roomId: 'r1', appointmentId: 'a1', from: { id: 'd', full_name: 'Dr Who', role: 'doctor' } }
  await flushPromises()
  return { wrapper, incoming, before, router }
}

async function seriousViolations(): Promise<string[]> {
  const results = await axe.run(document.body, { rules: { 'color-contrast': { enabled: false } } })
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(', ')}`)
}

const focusedLabel = () => (document.activeElement as HTMLElement | null)?.getAttribute('aria-label')

beforeEach(() => {
  ScriptedSocket.all = []
  vi.stubGlobal('WebSocket', ScriptedSocket)
  // Accept asks for the visit's details: no server here (it went to jsdom's localhost:3000).
  vi.stubGlobal('fetch', vi.fn(() => new Promise(() => {})))
  setActivePinia(createPinia())
})
afterEach(() => {
  vi.unstubAllGlobals()
  document.body.innerHTML = ''
})

describe('incoming call dialog', () => {
  it('takes the focus, keeps Tab inside, and gives the focus back when the ringing stops', async () => {
    const { wrapper, incoming, before } = await setup()
    expect(focusedLabel()).toBe('Accept call')
    await wrapper.find('.overlay').trigger('keydown', { key: 'Tab' }) // past the last button
    expect(focusedLabel()).toBe('Decline call')
    await wrapper.find('.overlay').trigger('keydown', { key: 'Tab', shiftKey: true }) // before the first
    expect(focusedLabel()).toBe('Accept call')
    incoming.current = null // the caller hung up
    await flushPromises()
    expect(document.activeElement).toBe(before)
  })

  it('says it is connecting, then leaves the focus to the call screen', async () => {
    const { wrapper, before, router } = await setup()
    expect(await seriousViolations()).toEqual([])
    await wrapper.find('button[aria-label="Accept call"]').trigger('click')
    await flushPromises()
    // No answer goes out here (no offer comes): the call screen follows after the longest wait.
    expect(wrapper.find('[role="status"]').text()).toBe('Connecting…')
    expect(wrapper.find('h2').text()).toBe('Dr Who')
    expect(wrapper.find('button').exists()).toBe(false)
    expect(document.activeElement?.getAttribute('role')).toBe('alertdialog') // not lost to the page
    expect(await seriousViolations()).toEqual([])
    expect(router.currentRoute.value.name).not.toBe('call')
    await new Promise((resolve) => setTimeout(resolve, 350))
    await flushPromises()
    expect(router.currentRoute.value.name).toBe('call')
    expect(wrapper.find('.overlay').exists()).toBe(false)
    expect(document.activeElement).not.toBe(before)
  })
})
