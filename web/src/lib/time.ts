/** Dates as people read them, in their own time zone. */

const dayTime = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

export function formatWhen(iso: string): string {
  return dayTime.format(new Date(iso))
}

export function formatTime(iso: string): string {
  return timeOnly.format(new Date(iso))
}

/** A message's time: the hour today, the day and hour before. */
export function formatMessageTime(iso: string, now = new Date()): string {
  const d = new Date(iso)
  return d.toDateString() === now.toDateString() ? timeOnly.format(d) : dayTime.format(d)
}

/** `datetime-local` input value (local time, minutes precision). */
export function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** The next 5-minute mark at least `leadMinutes` from now. */
export function nextSlot(now = new Date(), leadMinutes = 2): Date {
  const d = new Date(now.getTime() + leadMinutes * 60_000)
  d.setSeconds(0, 0)
  d.setMinutes(Math.ceil(d.getMinutes() / 5) * 5)
  return d
}

export const CALL_EARLY_MINUTES = 15

/** Whether a visit can be started now (from 15 minutes before until its end), as the server decides. */
export function callWindow(startsAt: string, minutes: number, now = Date.now()): 'early' | 'open' | 'over' {
  const start = new Date(startsAt).getTime()
  if (now < start - CALL_EARLY_MINUTES * 60_000) return 'early'
  if (now >= start + minutes * 60_000) return 'over'
  return 'open'
}
