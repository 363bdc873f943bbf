// filegate's web app. No framework and no build step: the browser runs this
// file as written. The bearer token lives in sessionStorage (this tab only)
// and goes to /v1 in the Authorization header; Uppy (vendored, 5.2.4) talks
// to /s3 with the HttpOnly session cookie that sign-in sets.
import { Uppy, Dashboard, AwsS3, GoldenRetriever } from '/app/vendor/uppy/uppy.min.mjs'

const $ = (id) => document.getElementById(id)
const TOKEN = 'filegate.token'
const PAGE = 100
const MULTIPART_ABOVE = 8 << 20 // bytes; larger files go in parts
const PART_SIZE = 8 << 20

const state = {
  me: null, // GET /v1/whoami
  prefix: '', // the folder shown, a full key prefix
  cursors: [''], // cursor of each page seen, for Previous
  page: 0,
  next: '',
  selected: new Set(),
  uppy: null,
}

// ---- API --------------------------------------------------------------

class Problem extends Error {
  constructor (status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`)
    this.status = status
    this.code = body?.code || ''
  }
}

async function api (method, path, body) {
  const headers = { Accept: 'application/json' }
  const token = sessionStorage.getItem(TOKEN)
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
  let data = null
  try { data = await res.json() } catch { /* empty body */ }
  if (!res.ok) {
    const err = new Problem(res.status, data)
    if (res.status === 401 && path !== '/v1/whoami') expired(err)
    throw err
  }
  return data
}

// ---- messages ---------------------------------------------------------

function say (msg) { $('status').textContent = msg }
function alertBox (msg) {
  const a = $('alert')
  a.textContent = msg
  a.hidden = !msg
}
function explain (err) {
  if (!(err instanceof Problem)) return `Something went wrong: ${err.message}`
  switch (err.status) {
    case 401: return 'Your token has expired or was revoked. Sign in again.'
    case 403: return `Not allowed: ${err.message}`
    case 404: return `Not found: ${err.message}`
    case 413: return `Too large: ${err.message}`
    case 410: return `Expired: ${err.message}`
    default: return err.message
  }
}
function expired (err) {
  signOut(false)
  alertBox(explain(err))
}

// ---- sign in / out ----------------------------------------------------

async function signIn (token) {
  sessionStorage.setItem(TOKEN, token)
  try {
    state.me = await api('GET', '/v1/whoami')
  } catch (err) {
    sessionStorage.removeItem(TOKEN)
    alertBox(err.status === 401 ? 'That token is not valid (wrong, expired or revoked).' : explain(err))
    showSignIn()
    return
  }
  try {
    await api('POST', '/v1/session') // the cookie Uppy's requests carry
  } catch (err) {
    alertBox(`Uploads are unavailable: ${explain(err)}`)
  }
  alertBox('')
  $('who-name').textContent = state.me.name + (state.me.prefix ? ` · ${state.me.prefix}` : '')
  $('who').hidden = false
  state.prefix = state.me.prefix
  setupUploader()
  show('browse')
  await list(true)
  focusFirstRow()
}

async function signOut (clearServer = true) {
  sessionStorage.removeItem(TOKEN)
  if (clearServer) {
    try { await fetch('/v1/session', { method: 'DELETE', credentials: 'same-origin' }) } catch { /* offline */ }
  }
  state.me = null
  if (state.uppy) {
    state.uppy.cancelAll()
    state.uppy.destroy()
    state.uppy = null
  }
  $('who').hidden = true
  showSignIn()
  say('Signed out.')
}

function showSignIn () {
  $('token').value = ''
  show('signin')
  $('token').focus()
}

function show (view) {
  for (const v of ['signin', 'browse', 'caption']) $(`view-${v}`).hidden = v !== view
}

// ---- browse -------------------------------------------------------------

const fmtSize = (n) => {
  if (n < 1024) return `${n} B`
  const u = ['KiB', 'MiB', 'GiB', 'TiB']
  let i = -1
  do { n /= 1024; i++ } while (n >= 1024 && i < u.length - 1)
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`
}
const fmtDate = (s) => new Date(s).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const baseName = (key) => key.replace(/\/$/, '').split('/').pop()
const TYPES = { jpg: 'JPEG image', jpeg: 'JPEG image', png: 'PNG image', gif: 'GIF image', webp: 'WebP image', pdf: 'PDF', zip: 'Zip archive', txt: 'Text', csv: 'CSV', json: 'JSON', mp4: 'Video', mov: 'Video', mp3: 'Audio', html: 'HTML' }
const typeOf = (key) => TYPES[(key.split('.').pop() || '').toLowerCase()] || 'File'
const isImage = (key) => /\.(jpe?g|png|gif|webp)$/i.test(key)
const can = (action) => state.me?.actions.includes(action) || state.me?.actions.includes('admin')

async function list (reset) {
  if (reset) { state.cursors = ['']; state.page = 0 }
  const search = $('search').value
  const q = new URLSearchParams({ prefix: state.prefix + search, delimiter: '/', limit: String(PAGE) })
  if (state.cursors[state.page]) q.set('cursor', state.cursors[state.page])
  say('Loading…')
  let page
  try {
    page = await api('GET', `/v1/objects?${q}`)
  } catch (err) {
    alertBox(explain(err))
    say('')
    return
  }
  state.next = page.cursor || ''
  state.selected.clear()
  render(page)
  say(`${page.folders.length} folders, ${page.objects.length} files${state.next ? ' (more on the next page)' : ''}.`)
}

function render (page) {
  renderCrumbs()
  const rows = $('rows')
  rows.replaceChildren()
  for (const f of page.folders) {
    const tr = document.createElement('tr')
    const open = button(baseName(f) + '/', () => openFolder(f), 'link folder name')
    open.setAttribute('aria-label', `Open folder ${baseName(f)}`)
    tr.append(td(''), td(open), td('—', 'num'), td('', 'date'), td('Folder', 'type'), td(''))
    rows.append(tr)
  }
  for (const o of page.objects) {
    const tr = document.createElement('tr')
    tr.dataset.key = o.key
    const box = document.createElement('input')
    box.type = 'checkbox'
    box.setAttribute('aria-label', `Select ${baseName(o.key)}`)
    box.addEventListener('change', () => { box.checked ? state.selected.add(o.key) : state.selected.delete(o.key); updateSelection() })
    const name = button(baseName(o.key), () => download(o.key), 'link name')
    name.title = 'Download'
    const acts = document.createElement('span')
    if (can('download')) {
      acts.append(button('Download', () => download(o.key), 'link'), button('Share', () => share(o.key), 'link'))
      acts.children[0].setAttribute('aria-label', `Download ${baseName(o.key)}`)
      acts.children[1].setAttribute('aria-label', `Share ${baseName(o.key)}`)
    }
    if (isImage(o.key) && can('caption')) {
      const c = button('Caption', () => openCaption(o.key), 'link')
      c.setAttribute('aria-label', `Caption ${baseName(o.key)}`)
      acts.append(c)
    }
    tr.append(td(box, 'sel'), td(name), td(fmtSize(o.size), 'num'), td(fmtDate(o.last_modified), 'date'), td(typeOf(o.key), 'type'), td(acts, 'acts'))
    rows.append(tr)
  }
  $('empty').hidden = page.folders.length + page.objects.length > 0
  $('prev').disabled = state.page === 0
  $('next').disabled = !state.next
  $('page-no').textContent = `Page ${state.page + 1}`
  $('select-all').checked = false
  updateSelection()
}

function td (content, cls) {
  const c = document.createElement('td')
  if (cls) c.className = cls
  if (typeof content === 'string') c.textContent = content
  else c.append(content)
  return c
}
function button (text, onclick, cls) {
  const b = document.createElement('button')
  b.type = 'button'
  b.textContent = text
  if (cls) b.className = cls
  b.addEventListener('click', onclick)
  return b
}

function renderCrumbs () {
  const root = state.me.prefix
  const ol = $('crumbs')
  ol.replaceChildren()
  const parts = state.prefix.slice(root.length).split('/').filter(Boolean)
  const items = [[root ? root.replace(/\/$/, '') : 'All files', root]]
  let acc = root
  for (const p of parts) { acc += p + '/'; items.push([p, acc]) }
  items.forEach(([label, prefix], i) => {
    const li = document.createElement('li')
    if (i === items.length - 1) {
      const s = document.createElement('span')
      s.textContent = label
      s.setAttribute('aria-current', 'page')
      li.append(s)
    } else {
      li.append(button(label, () => openFolder(prefix), 'link'))
    }
    ol.append(li)
  })
  $('upload-target').textContent = `Files go to ${state.prefix || 'the top of the bucket'}.`
}

function openFolder (prefix) {
  state.prefix = prefix
  $('search').value = ''
  list(true).then(focusFirstRow)
}

function focusFirstRow () {
  const first = $('rows').querySelector('button.name')
  if (first) first.focus()
}

function updateSelection () {
  const n = state.selected.size
  $('selected-count').textContent = `${n} selected`
  $('zip').disabled = n === 0 || !can('bundle')
}

// Arrow keys move between rows, Home/End jump, "/" searches, Backspace
// goes up a folder.
function onKey (e) {
  if ($('view-browse').hidden || e.target.closest('dialog')) return
  const tag = e.target.tagName
  if (e.key === '/' && tag !== 'INPUT') { e.preventDefault(); $('search').focus(); return }
  if (!e.target.closest('#rows')) return
  const rows = [...$('rows').querySelectorAll('tr')]
  const i = rows.indexOf(e.target.closest('tr'))
  let j = -1
  if (e.key === 'ArrowDown') j = Math.min(i + 1, rows.length - 1)
  if (e.key === 'ArrowUp') j = Math.max(i - 1, 0)
  if (e.key === 'Home') j = 0
  if (e.key === 'End') j = rows.length - 1
  if (e.key === 'Backspace' && state.prefix !== state.me.prefix) {
    e.preventDefault()
    openFolder(state.prefix.replace(/[^/]*\/$/, ''))
    return
  }
  if (j >= 0) {
    e.preventDefault()
    rows[j].querySelector('button.name')?.focus()
  }
}

// ---- download, share, zip ---------------------------------------------

function navigateTo (url) {
  const a = document.createElement('a')
  a.href = url
  a.rel = 'noopener noreferrer'
  document.body.append(a)
  a.click()
  a.remove()
}

async function download (key) {
  try {
    const g = await api('POST', '/v1/downloads', { key, filename: baseName(key), disposition: 'attachment' })
    navigateTo(g.url)
    say(`Downloading ${baseName(key)}…`)
  } catch (err) { alertBox(explain(err)) }
}

let shareKey = ''
function share (key) {
  shareKey = key
  $('share-name').textContent = baseName(key)
  $('share-out').hidden = true
  $('share-dialog').showModal()
  $('share-expiry').focus()
}
async function createShare () {
  try {
    const g = await api('POST', '/v1/downloads', { key: shareKey, expires_in: Number($('share-expiry').value), filename: baseName(shareKey) })
    $('share-url').value = g.url
    $('share-expires').textContent = `Works until ${new Date(g.expires_at).toLocaleString()}.`
    $('share-out').hidden = false
    $('share-url').select()
    $('share-copy').focus()
  } catch (err) {
    $('share-dialog').close()
    alertBox(explain(err))
  }
}
async function copyShare () {
  try {
    await navigator.clipboard.writeText($('share-url').value)
    $('share-copy').textContent = 'Copied'
  } catch {
    $('share-url').select()
    $('share-copy').textContent = 'Press Ctrl+C to copy'
  }
  setTimeout(() => { $('share-copy').textContent = 'Copy link' }, 2000)
}

async function zipSelection () {
  const keys = [...state.selected]
  if (keys.length === 0) return
  const folder = baseName(state.prefix) || 'files'
  say(`Zipping ${keys.length} files…`)
  $('zip').disabled = true
  try {
    const b = await api('POST', '/v1/bundles', { keys, name: folder })
    say(`Zip ready: ${keys.length} files, ${fmtSize(b.size)}.`)
    navigateTo(b.url)
  } catch (err) { alertBox(explain(err)) } finally { updateSelection() }
}

// ---- upload (Uppy) -----------------------------------------------------

// sendBytes is Uppy's uploadPartBytes option: it PUTs (or POSTs) one part or
// one whole file to the store at a presigned URL. It replaces Uppy 5's own
// for a single reason: when the store's CORS rules hide the ETag header,
// Uppy 5's never settles, and the upload hangs without a word (a part with
// no readable ETag can never be completed). Here that part fails with an
// error that says so, at once (trying again cannot help). Other errors
// carry the request as `source`, as Uppy's do, so that Uppy's retries (an
// expired link, 429, 5xx) behave the same.
function sendBytes ({ signature: { url, headers, method = 'PUT' }, body, size = body.size, onProgress, onComplete, signal }) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('upload cancelled', 'AbortError'))
    const xhr = new XMLHttpRequest()
    xhr.open(method, url, true)
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v)
    xhr.responseType = 'text'
    const abort = () => xhr.abort()
    signal?.addEventListener('abort', abort)
    // retry: Uppy may try again (it looks at source.status)
    const fail = (message, retry = true) => {
      signal?.removeEventListener('abort', abort)
      const err = new Error(message)
      if (retry) err.source = xhr
      reject(err)
    }
    xhr.upload.addEventListener('progress', (ev) => onProgress(ev))
    xhr.addEventListener('abort', () => {
      signal?.removeEventListener('abort', abort)
      reject(new DOMException('upload cancelled', 'AbortError'))
    })
    xhr.addEventListener('error', () => fail('the storage could not be reached'))
    xhr.addEventListener('load', () => {
      if (xhr.status < 200 || xhr.status >= 300) {
        // Uppy signs again on this exact message.
        const expired = xhr.status === 403 && xhr.responseText.includes('<Message>Request has expired</Message>')
        return fail(expired ? 'Request has expired' : `the storage answered ${xhr.status}`)
      }
      const etag = xhr.getResponseHeader('ETag')
      if (etag == null && /[?&]uploadId=/.test(url)) {
        return fail('Could not read the ETag header of a part: the storage\'s CORS rules do not expose it', false)
      }
      signal?.removeEventListener('abort', abort)
      onProgress({ loaded: size, lengthComputable: true })
      onComplete?.(etag)
      resolve({ ETag: etag, location: xhr.getResponseHeader('Location') })
    })
    xhr.send(body)
  })
}

function setupUploader () {
  const toggle = $('upload-toggle')
  if (!can('upload')) {
    toggle.hidden = true
    return
  }
  toggle.hidden = false
  if (state.uppy) return
  const limit = state.me.upload_limit || undefined
  const uppy = new Uppy({
    id: 'filegate',
    autoProceed: false,
    restrictions: { maxFileSize: limit },
    // Keys are relative to the token's prefix: the folder shown when the
    // file was added, then the file's name (or its path inside a dropped
    // folder). Uppy sends the file's name as the key, so the name carries
    // the folder.
    onBeforeFileAdded: (file) => {
      if (file.meta?.filegateKey) return file // restored after a reload
      const key = state.prefix.slice(state.me.prefix.length) + (file.meta.relativePath || file.name)
      return { ...file, name: key, meta: { ...file.meta, name: key, filegateKey: key } }
    },
  })
  uppy.use(Dashboard, {
    target: '#dashboard',
    inline: true,
    height: 320,
    width: '100%',
    proudlyDisplayPoweredByUppy: false,
    showProgressDetails: true,
    note: limit ? `Up to ${fmtSize(limit)} per file.` : '',
    theme: 'auto',
  })
  // Same origin: Uppy's requests to /s3 carry the session cookie. Large
  // files go in parts, several at a time (limit caps every request in
  // flight, parts included; browsers open 6 connections per host).
  uppy.use(AwsS3, {
    endpoint: location.origin,
    shouldUseMultipart: (file) => file.size > MULTIPART_ABOVE,
    getChunkSize: () => PART_SIZE,
    allowedMetaFields: ['type'],
    limit: 6,
    uploadPartBytes: sendBytes,
  })
  uppy.use(GoldenRetriever, { serviceWorker: false, indexedDB: { maxFileSize: 1 << 30, maxTotalSize: 2 << 30 } })
  uppy.on('upload-error', async (file, error) => {
    // Uppy only sees the HTTP status text; ask filegate why.
    let why = error?.message || 'upload failed'
    if (/ETag/.test(why)) {
      // Uppy could not read a part's ETag: the store's CORS rules do not
      // expose it, and no multipart upload can be completed that way, so
      // the started one is aborted rather than left behind.
      const mp = uppy.getFile(file?.id)?.s3Multipart
      if (mp?.uploadId && mp?.key) {
        fetch(`/s3/multipart/${encodeURIComponent(mp.uploadId)}?key=${encodeURIComponent(mp.key)}`, { method: 'DELETE', credentials: 'same-origin' }).catch(() => {})
      }
      why = 'the storage\'s CORS rules do not expose the ETag header, so large files cannot be uploaded from a browser. Ask the administrator to add ETag to the bucket\'s CORS ExposeHeaders (filegate sets it on buckets it creates).'
    }
    try { await api('GET', '/v1/whoami') } catch (err) { if (err.status === 401) why = 'your token has expired or was revoked: sign in again' }
    alertBox(`${file?.name}: ${why}`)
  })
  uppy.on('restriction-failed', (file, error) => alertBox(error.message))
  uppy.on('complete', (result) => {
    if (result.successful?.length) {
      say(`Uploaded ${result.successful.length} file(s).`)
      list(true)
    }
  })
  state.uppy = uppy
  window.filegateUppy = uppy // for the browser tests and the console
  // With a single file, Uppy's Dashboard renders its listitem inside a
  // plain div (axe: aria-required-parent, critical); give the container the
  // list role it has with several files.
  new MutationObserver(() => {
    for (const item of document.querySelectorAll('#dashboard [role=listitem]')) {
      let parent = item.parentElement
      while (parent && ['presentation', 'none'].includes(parent.getAttribute('role'))) parent = parent.parentElement
      if (parent && !parent.hasAttribute('role')) parent.setAttribute('role', 'list')
    }
  }).observe($('dashboard'), { childList: true, subtree: true })
  // A reload restored unfinished uploads: show them.
  uppy.on('restored', () => {
    // Files that had finished before the reload come back without their
    // bytes ("ghosts") and would block the Upload button: drop them.
    for (const f of uppy.getFiles()) {
      if (f.progress?.uploadComplete) uppy.removeFile(f.id)
    }
    $('uploader').hidden = false
    toggle.setAttribute('aria-expanded', 'true')
    say('Unfinished uploads were restored: press Resume (or Upload) to continue them.')
  })
}

// ---- captions ---------------------------------------------------------

const cap = { key: '', img: null, x: 0.5, y: 0.5, drag: false }

async function openCaption (key) {
  cap.key = key
  $('caption-name').textContent = baseName(key)
  $('caption-result').hidden = true
  show('caption')
  say('Loading the image…')
  try {
    const g = await api('POST', '/v1/downloads', { key, disposition: 'inline' })
    const img = new Image()
    img.crossOrigin = 'anonymous'
    await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = () => reject(new Error('the image could not be loaded')); img.src = g.url })
    cap.img = img
    const c = $('caption-canvas')
    c.width = img.naturalWidth
    c.height = img.naturalHeight
    say('')
    draw()
    $('top-text').focus()
  } catch (err) { alertBox(explain(err)) }
}

function layout () { return document.querySelector('input[name=layout]:checked').value }

// draw mirrors the server's renderer closely enough to place text: Go Bold,
// white fill with a black outline, lines wrapped to the image width, height
// = scale × image height.
function draw () {
  if (!cap.img) return
  const c = $('caption-canvas')
  const ctx = c.getContext('2d')
  const W = c.width; const H = c.height
  ctx.drawImage(cap.img, 0, 0)
  const px = Math.max(8, Math.round(H * Number($('scale').value) / 100))
  ctx.font = `${px}px "Go Bold", sans-serif`
  ctx.textAlign = 'center'
  ctx.lineJoin = 'round'
  ctx.lineWidth = Math.max(2, px / 12)
  ctx.fillStyle = $('color').value
  ctx.strokeStyle = $('color').value === 'black' ? 'white' : 'black'
  const put = (text, y, base) => {
    ctx.textBaseline = base
    for (const [i, line] of wrap(ctx, text, W * 0.92).entries()) {
      const ly = base === 'bottom' ? y - (wrap(ctx, text, W * 0.92).length - 1 - i) * px * 1.1 : y + i * px * 1.1
      ctx.strokeText(line, W / 2 + (layout() === 'free' ? (cap.x - 0.5) * W : 0), ly)
      ctx.fillText(line, W / 2 + (layout() === 'free' ? (cap.x - 0.5) * W : 0), ly)
    }
  }
  const margin = H * 0.03
  if (layout() === 'meme') {
    put($('top-text').value.toUpperCase(), margin, 'top')
    put($('bottom-text').value.toUpperCase(), H - margin, 'bottom')
  } else {
    put($('free-text').value, cap.y * H, 'middle')
  }
}

function wrap (ctx, text, width) {
  const out = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const t = line ? `${line} ${word}` : word
    if (ctx.measureText(t).width > width && line) { out.push(line); line = word } else line = t
  }
  if (line) out.push(line)
  return out
}

function canvasPoint (e) {
  const r = $('caption-canvas').getBoundingClientRect()
  return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height]
}

async function saveCaption (e) {
  e.preventDefault()
  const body = { key: cap.key, scale: Number($('scale').value) / 100, color: $('color').value }
  if ($('color').value === 'black') body.stroke_color = 'white'
  if (layout() === 'meme') {
    body.top_text = $('top-text').value.toUpperCase()
    body.bottom_text = $('bottom-text').value.toUpperCase()
  } else {
    body.text = $('free-text').value
    body.x = `${(cap.x * 100).toFixed(1)}%`
    body.y = `${(cap.y * 100).toFixed(1)}%`
  }
  if (!(body.text || body.top_text || body.bottom_text)) { alertBox('Type some text first.'); return }
  $('caption-save').disabled = true
  say('Rendering the caption…')
  try {
    const r = await api('POST', '/v1/captions', body)
    $('caption-img').src = r.url
    $('caption-key').textContent = r.key
    $('caption-link').href = r.url
    $('caption-result').hidden = false
    say(`Saved as ${r.key}.`)
    alertBox('')
    $('caption-link').focus()
  } catch (err) { alertBox(explain(err)) } finally { $('caption-save').disabled = false }
}

// ---- wiring -------------------------------------------------------------

function wire () {
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value.trim()) })
  $('signout').addEventListener('click', () => signOut(true))
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); list(true) })
  let t
  $('search').addEventListener('input', () => { clearTimeout(t); t = setTimeout(() => list(true), 250) })
  $('refresh').addEventListener('click', () => list(false))
  $('prev').addEventListener('click', () => { state.page--; list(false) })
  $('next').addEventListener('click', () => { state.cursors[state.page + 1] = state.next; state.page++; list(false) })
  $('zip').addEventListener('click', zipSelection)
  $('select-all').addEventListener('change', (e) => {
    for (const box of $('rows').querySelectorAll('td.sel input')) {
      box.checked = e.target.checked
      box.dispatchEvent(new Event('change'))
    }
  })
  $('upload-toggle').addEventListener('click', () => {
    const open = $('uploader').hidden
    $('uploader').hidden = !open
    $('upload-toggle').setAttribute('aria-expanded', String(open))
  })
  $('share-create').addEventListener('click', createShare)
  $('share-copy').addEventListener('click', copyShare)
  document.addEventListener('keydown', onKey)

  $('caption-back').addEventListener('click', () => { show('browse'); cap.img = null; list(false) })
  $('caption-form').addEventListener('submit', saveCaption)
  for (const id of ['top-text', 'bottom-text', 'free-text', 'scale', 'color']) $(id).addEventListener('input', () => { $('scale-out').textContent = `${$('scale').value}%`; draw() })
  for (const r of document.querySelectorAll('input[name=layout]')) {
    r.addEventListener('change', () => {
      $('meme-fields').hidden = layout() !== 'meme'
      $('free-fields').hidden = layout() !== 'free'
      draw()
    })
  }
  const c = $('caption-canvas')
  c.tabIndex = 0
  c.addEventListener('pointerdown', (e) => { if (layout() === 'free') { cap.drag = true; c.setPointerCapture(e.pointerId); [cap.x, cap.y] = canvasPoint(e); draw() } })
  c.addEventListener('pointermove', (e) => { if (cap.drag) { [cap.x, cap.y] = canvasPoint(e).map((v) => Math.min(1, Math.max(0, v))); draw() } })
  c.addEventListener('pointerup', () => { cap.drag = false })
  c.addEventListener('keydown', (e) => {
    if (layout() !== 'free') return
    const d = { ArrowLeft: [-0.02, 0], ArrowRight: [0.02, 0], ArrowUp: [0, -0.02], ArrowDown: [0, 0.02] }[e.key]
    if (!d) return
    e.preventDefault()
    cap.x = Math.min(1, Math.max(0, cap.x + d[0]))
    cap.y = Math.min(1, Math.max(0, cap.y + d[1]))
    draw()
  })
}

async function start () {
  wire()
  const font = new FontFace('Go Bold', 'url(/app/font/gobold.ttf)')
  font.load().then((f) => { document.fonts.add(f); draw() }).catch(() => {})
  // #token=… signs in from the link `filegate serve` prints. A fragment
  // never reaches a server or a log; it is removed from the address bar.
  const m = location.hash.match(/^#token=([^&]+)/)
  if (m) {
    history.replaceState(null, '', location.pathname + location.search)
    await signIn(decodeURIComponent(m[1]))
    return
  }
  const token = sessionStorage.getItem(TOKEN)
  if (token) await signIn(token)
  else showSignIn()
}

start()
