/** The chosen speaker, shared by the pre-call check's test sound and the call's remote video. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { canChooseSpeaker, loadSpeaker, saveSpeaker, speakersOf } from '@/calls/speaker'

export const useSpeakerStore = defineStore('speaker', () => {
  const supported = canChooseSpeaker()
  const speakers = ref<MediaDeviceInfo[]>([])
  /** '' is the system's default output. */
  const speakerId = ref(loadSpeaker())

  async function refresh(): Promise<void> {
    if (!supported || !navigator.mediaDevices?.enumerateDevices) return
    speakers.value = speakersOf(await navigator.mediaDevices.enumerateDevices())
    if (speakerId.value && !speakers.value.some((d) => d.deviceId === speakerId.value)) speakerId.value = ''
  }

  function select(id: string): void {
    speakerId.value = id
    saveSpeaker(id)
  }

  return { supported, speakers, speakerId, refresh, select }
})
