/**
 * The pre-call check's results: while the network test runs its line says so in place, so the
 * list keeps its lines and the Check in button below it stays where the patient is about to tap.
 */
import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import type { Checks } from '@/api/client'
import CheckResults from './CheckResults.vue'

const lines = (checks: Checks, testing?: boolean) =>
  mount(CheckResults, { props: { checks, testing } }).findAll('li').map((li) => li.text())

const before: Checks = { camera: 'ok', microphone: 'ok', network: null }
const after: Checks = { ...before, network: { rtt_ms: 41, bitrate_kbps: 30_000, turn: 'skipped' } }

describe('CheckResults', () => {
  it('says the network is being checked, on its own line, while the test runs', () => {
    expect(lines(before, true)).toEqual(['Camera: works', 'Microphone: works', 'Network: checking…'])
    // A second test (the results are sent again): the line is in place, not the old figure.
    expect(lines(after, true)).toEqual(['Camera: works', 'Microphone: works', 'Network: checking…',
      'Speed: about 30 Mbit/s'])
  })

  it('shows the figures once the test is done, and "not checked" where none ran', () => {
    expect(lines(after)).toEqual(['Camera: works', 'Microphone: works', 'Network: good (41 ms)',
      'Speed: about 30 Mbit/s'])
    expect(lines(before)).toEqual(['Camera: works', 'Microphone: works', 'Network: not checked'])
  })
})
