/** Short live notices (a new booking, a move, a cancellation): shown until dismissed, never modal. */
import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Notice { id: number; text: string; link: string | null }

const MAX = 4

export const useNoticesStore = defineStore('notices', () => {
  const items = ref<Notice[]>([])
  let next = 1

  function add(text: string, link: string | null = null): void {
    items.value = [...items.value, { id: next++, text, link }].slice(-MAX)
  }

  function dismiss(id: number): void {
    items.value = items.value.filter((n) => n.id !== id)
  }

  return { items, add, dismiss }
})
