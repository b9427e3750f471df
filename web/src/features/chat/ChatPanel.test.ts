/**
 * When the call screen's chat fetches its history: not while a call is being set up (the fetch
 * met the room.join on the server), but as soon as the video is connected, nobody is answering
 * yet, there is no call, a short while has passed, or the person opens or focuses the chat.
 */
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import { signInForTest } from '@/testing/session'
import { useCallStore } from '@/stores/call'
import { ScriptedSocket } from '@/testing/scriptedSocket'
import ChatPanel from './ChatPanel.vue'

const AP = 'appointment-1'
let historyFetches = 0

function mountPanel(open = true) {
  return mount(ChatPanel, { props: { appointmentId: AP, otherName: 'Dr Who', open } })
}

/** What CallView's onMounted does after the panel mounted: the call is being set up. */
async function callSettingUp(phase: 'waiting' | 'starting' = 'waiting') {
  const call = useCallStore()
  call.phase = phase
  call.peerState = 'new'
  await nextTick()
  await flushPromises()
  return call
}

beforeEach(() => {
  historyFetches = 0
  ScriptedSocket.all = []
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', ScriptedSocket)
  vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
    if (new URL(request.url).pathname.endsWith('/messages')) historyFetches += 1
    return new Response(JSON.stringify({ items: [], next_cursor: null }), {
      status: 200, headers: { 'content-type': 'application/json' },
    })
  }))
  signInForTest({ id: 'me', email: 'p@x', full_name: 'Pat', role: 'patient' })
  setActivePinia(createPinia())
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  sessionStorage.clear()
})

describe('chat history on the call screen', () => {
  it('waits while the call is set up and loads once the video is connected', async () => {
    const wrapper = mountPanel()
    const call = await callSettingUp()
    expect(historyFetches).toBe(0)
    call.phase = 'in-call'
    await flushPromises()
    expect(historyFetches).toBe(0)
    call.peerState = 'connected'
    await flushPromises()
    expect(historyFetches).toBe(1)
    vi.advanceTimersByTime(5000)
    await flushPromises()
    expect(historyFetches).toBe(1) // once
    expect(wrapper.text()).toContain('No messages yet')
    wrapper.unmount()
  })

  it('loads after a short while when the call does not come up', async () => {
    const wrapper = mountPanel()
    await callSettingUp()
    vi.advanceTimersByTime(1000)
    await flushPromises()
    expect(historyFetches).toBe(0)
    vi.advanceTimersByTime(600)
    await flushPromises()
    expect(historyFetches).toBe(1)
    wrapper.unmount()
  })

  it('loads at once when the person focuses the chat', async () => {
    const wrapper = mountPanel()
    await callSettingUp()
    await wrapper.find('textarea').trigger('focusin')
    await flushPromises()
    expect(historyFetches).toBe(1)
    wrapper.unmount()
  })

  it('loads at once when the person opens the chat', async () => {
    const wrapper = mountPanel(false)
    await callSettingUp()
    expect(historyFetches).toBe(0)
    await wrapper.setProps({ open: true })
    await flushPromises()
    expect(historyFetches).toBe(1)
    wrapper.unmount()
  })

  it('loads while ringing: nobody has answered, so the call needs nothing yet', async () => {
    const wrapper = mountPanel()
    const call = await callSettingUp('starting')
    expect(historyFetches).toBe(0)
    call.phase = 'ringing'
    await flushPromises()
    expect(historyFetches).toBe(1)
    wrapper.unmount()
  })

  it('loads at once when there is no call (it ended or could not start)', async () => {
    const wrapper = mountPanel()
    await nextTick()
    await flushPromises()
    expect(historyFetches).toBe(1)
    wrapper.unmount()
  })
})

describe('the conversation outside the call', () => {
  it('is read-only after messaging_until: the messages stay, the box to write is gone', async () => {
    const wrapper = mount(ChatPanel, { props: { appointmentId: AP, otherName: 'Dr Who', open: true, readOnly: true } })
    await flushPromises()
    expect(historyFetches).toBe(1)
    expect(wrapper.find('textarea').exists()).toBe(false)
    expect(wrapper.text()).toContain('This conversation is closed')
    expect(wrapper.find('[role="log"]').attributes('tabindex')).toBe('0')
  })
})
