import { createRouter, createWebHistory, type RouteLocationNormalized, type RouteLocationRaw } from 'vue-router'
import { useSessionStore } from './stores/session'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/visits' },
    { path: '/sign-in', name: 'sign-in', component: () => import('./features/auth/SignInView.vue'), meta: { public: true, title: 'Sign in' } },
    { path: '/register', name: 'register', component: () => import('./features/auth/RegisterView.vue'), meta: { public: true, title: 'Create an account' } },
    // The emailed links: the token rides in the fragment (`#…`), which main.ts takes out first.
    { path: '/join', name: 'join', component: () => import('./features/join/JoinView.vue'), meta: { public: true, title: 'Opening your visit' } },
    { path: '/forgot-password', name: 'forgot-password', component: () => import('./features/auth/ForgotPasswordView.vue'), meta: { public: true, title: 'Forgot your password?' } },
    { path: '/reset', name: 'reset', component: () => import('./features/auth/ResetPasswordView.vue'), meta: { public: true, title: 'Choose a password' } },
    { path: '/account', name: 'account', component: () => import('./features/account/AccountView.vue'), meta: { title: 'Your account' } },
    { path: '/visits', name: 'visits', component: () => import('./features/appointments/AppointmentsView.vue'), meta: { title: 'Your visits' } },
    // What emails and calendar entries link to: the visit's way in (camera check, then the call).
    { path: '/visits/:id', redirect: (to) => ({ name: 'check', params: { id: to.params.id } }) },
    // The doctor's camera check before starting; the patient's check-in and waiting room.
    { path: '/visits/:id/check', name: 'check', component: () => import('./features/visits/VisitEntryView.vue'), meta: { title: 'Get ready for your visit' } },
    { path: '/visits/:id/messages', name: 'messages', component: () => import('./features/visits/ConversationView.vue'), meta: { title: 'Messages' } },
    { path: '/history/:personId', name: 'history', component: () => import('./features/visits/HistoryView.vue'), meta: { title: 'Past visits' } },
    { path: '/visits/:id/call', name: 'call', component: () => import('./features/calls/CallView.vue'), meta: { title: 'Video visit' } },
    {
      path: '/admin',
      component: () => import('./features/admin/AdminLayout.vue'),
      meta: { role: 'admin', title: 'Administration' },
      children: [
        { path: '', name: 'admin', component: () => import('./features/admin/UsersView.vue'), meta: { title: 'Accounts' } },
        { path: 'users/new', name: 'admin-new-user', component: () => import('./features/admin/CreateUserView.vue'), meta: { title: 'New account' } },
        { path: 'users/:id', name: 'admin-user', component: () => import('./features/admin/UserDetailView.vue'), meta: { title: 'Account' } },
        { path: 'audit', name: 'admin-audit', component: () => import('./features/admin/AuditView.vue'), meta: { title: 'Audit log' } },
      ],
    },
    { path: '/:rest(.*)*', name: 'not-found', component: () => import('./features/NotFoundView.vue'), meta: { public: true, title: 'Page not found' } },
  ],
})

/** Where a navigation to `to` goes instead (sign-in, the link's one visit, …), or true: it may go there. */
export function entryFor(to: Pick<RouteLocationNormalized, 'params' | 'meta' | 'fullPath'> & { name?: RouteLocationNormalized['name'] | null }): RouteLocationRaw | true {
  const session = useSessionStore()
  if (!to.meta.public && !session.signedIn) return { name: 'sign-in', query: to.fullPath !== '/visits' ? { next: to.fullPath } : {} }
  // A session from a join link opens its one visit (check, call) and the public pages; the rest
  // needs a password sign-in (the server refuses it too: 403 scope_limited).
  const scope = session.signedIn ? session.scope : null
  if (scope && !to.meta.public) {
    const visit = to.name === 'check' || to.name === 'call' || to.name === 'messages' ? String(to.params.id) : null
    if (visit !== scope.appointmentId) return { name: 'check', params: { id: scope.appointmentId } }
    return true
  }
  if ((to.name === 'sign-in' || to.name === 'register') && session.signedIn && !scope) return { name: 'visits' }
  // A session limited to two-factor enrolment reaches only the account page.
  if (session.signedIn && session.mfaEnrollmentRequired && !to.meta.public && to.name !== 'account') return { name: 'account' }
  const admin = session.user?.role === 'admin'
  // Admins have their own area (no visits of their own); nobody else may open it.
  if (admin && to.name === 'visits') return { name: 'admin' }
  if (!admin && to.meta.role === 'admin') return { name: 'visits' }
  return true
}

router.beforeEach((to) => entryFor(to))

router.afterEach((to) => {
  document.title = to.meta.title ? `${String(to.meta.title)} · Televisit` : 'Televisit'
})
