// Entry point: sign-in with an AccessKey (kept in sessionStorage), the navigation, the pages.

import { call, credentials, signIn, signOut } from './mgmt.js';
import { engine } from './crypto.js';
import { h, page, render, errorBox, field, values } from './ui.js';
import './groups.js';
import './apis.js';
import './versions.js';
import './apps.js';
import './plugins.js';
import './debug.js';
import './charts.js';

function signInPage(error) {
  document.querySelector('nav').hidden = true;
  document.getElementById('who').replaceChildren();
  const form = h('form', { class: 'signin', onsubmit: submit },
    h('p', {}, 'Sign in with an AccessKey of the management API. It is kept in this tab only (sessionStorage) and signs each call in the page; it is never sent.'),
    field('AccessKey ID', 'id'),
    field('AccessKey secret', 'secret', '', { type: 'password' }),
    error ? errorBox(error) : null,
    h('button', { class: 'primary' }, 'Sign in'),
    h('p', { class: 'muted' }, `Signing with ${engine}.`));
  page('Sign in', form);
  async function submit(ev) {
    ev.preventDefault();
    const { id, secret } = values(form);
    signIn(id.trim(), secret);
    try {
      await call('DescribeApiGroups', { PageSize: 1 }); // checks the key: a wrong one is refused
      start();
    } catch (e) {
      signOut();
      signInPage(e);
    }
  }
}

function start() {
  const cred = credentials();
  if (!cred) return signInPage();
  document.querySelector('nav').hidden = false;
  document.getElementById('who').replaceChildren(
    cred.id,
    h('button', { onclick: () => { signOut(); location.hash = ''; signInPage(); } }, 'Sign out'));
  render();
}

window.addEventListener('hashchange', () => credentials() && render());
start();
