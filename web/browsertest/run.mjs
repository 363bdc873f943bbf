// Drives Debian's Chromium (playwright-core, no downloaded browser) through
// filegate's web app, through Uppy 5's AwsS3 plugin from npm on another
// origin, and through Uppy 6's on filegate's origin. Started by
// cmd/filegate/browser_test.go, which runs filegate with
// the embedded store, prepares the files, and checks the store afterwards.
//
// Environment: FG_BASE (filegate), FG_TOKEN (a token scoped to users/alice/),
// FG_FILES (the files to upload), FG_OUT (results.json, downloads),
// FG_PAGE (the Uppy 5 page's origin), FG_PHASE (names the results file),
// FG_SCREENSHOTS (optional: write docs screenshots there).
import { chromium } from 'playwright-core'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { env, recorder } from './record.mjs'
import { createRequire } from 'node:module'

const base = env('FG_BASE')
const token = env('FG_TOKEN')
const files = env('FG_FILES')
const out = env('FG_OUT')
const pageOrigin = env('FG_PAGE')
const phase = process.env.FG_PHASE || 'main'
const shots = process.env.FG_SCREENSHOTS || ''
const require = createRequire(import.meta.url)
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

const results = { timings: {}, axe: {}, checks: [] }
const t0 = Date.now()
const { step, check } = recorder(results)

const exe = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find(existsSync)
const browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'], headless: true })
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } })
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
const page = await context.newPage()
page.on('pageerror', (err) => console.log('page error:', err.message))
page.on('console', (m) => { if (m.type() === 'error') console.log('console:', m.text()) })

async function axe (name) {
  await page.evaluate(axeSource)
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }))
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  results.axe[name] = { violations: r.violations.length, serious_or_critical: bad.length, ids: r.violations.map((v) => `${v.id}:${v.impact}`) }
  for (const v of bad) console.log(`axe ${name}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").split("\n")[1]).join("; ")}`)
  check(bad.length === 0, `axe: no serious or critical violations in ${name}`)
}
async function shot (name) {
  if (!shots) return
  await page.screenshot({ path: join(shots, `${name}.png`) })
}
async function rowFor (name) {
  return page.locator('#rows tr', { has: page.locator('button.name', { hasText: new RegExp(`^${name.replace('.', '\\.')}$`) }) })
}
// addFiles picks files in the Dashboard as a person does: its file input,
// behind "Add more" once files are listed.
async function addFiles (pg, ...paths) {
  if (await pg.locator('.uppy-Dashboard-input').count() === 0) await pg.locator('.uppy-DashboardContent-addMore').click()
  await pg.locator('.uppy-Dashboard-input').first().setInputFiles(paths)
}
async function waitForRow (name, timeout = 60000) {
  await (await rowFor(name)).waitFor({ timeout })
}

try {
  await main()
} finally {
  results.total_ms = Date.now() - t0
  writeFileSync(join(out, `results-${phase}.json`), JSON.stringify(results, null, 2))
  await browser.close()
}

async function main () {
  // Sign in from the printed link: the fragment is dropped from the URL.
  await page.goto(`${base}/#token=${encodeURIComponent(token)}`)
  await page.locator('#who').waitFor()
  check(!page.url().includes('token'), 'the #token fragment is removed from the address bar')
  check(await page.evaluate(() => sessionStorage.getItem('filegate.token')) !== null, 'the token is kept in sessionStorage')
  const cookies = await context.cookies(base)
  const sc = cookies.find((c) => c.name === 'filegate-session')
  check(sc && sc.httpOnly && sc.sameSite === 'Strict', 'sign-in sets an HttpOnly SameSite=Strict session cookie')
  check(!(await page.evaluate(() => document.cookie)).includes('filegate-session'), 'scripts cannot read the session cookie')
  await waitForRow('cat.jpg')
  step('sign in from the link, list')
  await axe('browse')

  // Keyboard: the first row has focus; arrows move; "/" searches.
  await page.locator('#rows button.name').first().focus()
  await page.keyboard.press('ArrowDown')
  const focused = await page.evaluate(() => document.activeElement.textContent)
  check(focused !== '', 'arrow keys move between rows')
  await page.keyboard.press('/')
  check(await page.evaluate(() => document.activeElement.id) === 'search', '"/" focuses the search box')
  await page.keyboard.type('ca')
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 1)
  await page.fill('#search', '')
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length > 1)
  // Folders and breadcrumbs.
  await page.locator('#rows button.folder', { hasText: 'docs/' }).click()
  await waitForRow('readme.txt')
  check(await page.locator('#crumbs [aria-current=page]').textContent() === 'docs', 'breadcrumbs show the folder')
  await page.locator('#crumbs button').first().click()
  await waitForRow('cat.jpg')
  step('keyboard, search, folders')

  // Upload a small file through the Dashboard (Uppy → /s3 with the cookie).
  await page.click('#upload-toggle')
  await addFiles(page, join(files, 'small.txt'))
  await shot('upload-desktop')
  await page.locator('.uppy-StatusBar-actionBtn--upload').click()
  await waitForRow('small.txt')
  step('upload a small file')
  await axe('upload')
  // A file added while a folder is shown goes into that folder.
  await page.locator('#rows button.folder', { hasText: 'docs/' }).click()
  await waitForRow('readme.txt')
  await addFiles(page, join(files, 'folder.txt'))
  await page.locator('.uppy-StatusBar-actionBtn--upload').click()
  await waitForRow('folder.txt')
  await page.locator('#crumbs button').first().click()
  await waitForRow('cat.jpg')
  step('upload into a folder')

  // A 40 MiB file in five 8 MiB parts, sent several at a time. The
  // signing of part 3 is held back, so that the page is reloaded with the
  // other parts stored and part 3 missing; then the upload is resumed. (A
  // part cut in the middle of its bytes is tested with a raw socket in
  // TestCutUploadIsNotKept.)
  let parts = []
  let stored = new Set()
  let creates = 0
  let listed = 0
  let inflight = 0
  let maxInflight = 0
  const partOf = (r) => { const m = r.url().match(/[?&]partNumber=(\d+)/); return m && r.method() === 'PUT' ? Number(m[1]) : 0 }
  page.on('request', (r) => {
    const u = r.url()
    const n = partOf(r)
    if (n) { parts.push(n); inflight++; maxInflight = Math.max(maxInflight, inflight) }
    if (r.method() === 'POST' && u.endsWith('/s3/multipart')) creates++
    if (r.method() === 'GET' && /\/s3\/multipart\/[^/]+\?key=/.test(u)) listed++
  })
  page.on('requestfinished', async (r) => {
    const n = partOf(r)
    if (!n) return
    inflight--
    if ((await r.response())?.status() === 200) stored.add(n)
  })
  page.on('requestfailed', (r) => { if (partOf(r)) inflight-- })
  // Part 3's signing is never answered until the reload (unrouting would
  // let the held request through, and part 3 could go up before the
  // reload); after it, new requests go through.
  const hold = /\/s3\/multipart\/[^/?]+\/3\?/
  let holding = true
  await page.route(hold, (route) => { if (!holding) route.continue() })
  await addFiles(page, join(files, 'big.bin'))
  await page.locator('.uppy-StatusBar-actionBtn--upload').click()
  const deadline = Date.now() + 60000
  while (stored.size < 4 && Date.now() < deadline) await page.waitForTimeout(100)
  await page.waitForTimeout(1500) // Golden Retriever saves its state (throttled)
  const before = [...stored].sort()
  results.parts_in_flight_max = maxInflight
  check(maxInflight >= 2, `a file's parts are uploaded in parallel (at most ${maxInflight} part PUTs in flight at once)`)
  await page.reload()
  holding = false
  parts = []
  creates = 0
  await page.locator('#who').waitFor()
  // The unfinished upload is listed after the reload. When the browser kept
  // the file's bytes (IndexedDB) it resumes as is; otherwise Uppy asks for
  // the file again. Either way the same multipart upload continues
  // (listParts, then only the missing parts).
  await page.getByText('big.bin').first().waitFor({ timeout: 30000 })
  await shot('resume-desktop')
  results.resume_needed_reselect = await page.getByText('Re-select').count() > 0
  if (results.resume_needed_reselect) await addFiles(page, join(files, 'big.bin'))
  const resumeBtn = page.locator('.uppy-StatusBar-actionBtn--upload:not([disabled]), .uppy-StatusBar-actionBtn--retry')
  await resumeBtn.first().click({ timeout: 30000 })
  await waitForRow('big.bin', 120000)
  results.resume = { stored_before: before, after: [...parts], creates_after_reload: creates, list_parts_calls: listed }
  check(JSON.stringify(before) === '[1,2,4,5]' && JSON.stringify(parts) === '[3]' && creates === 0 && listed > 0,
    `after the reload the same upload continued with the missing part only: ${JSON.stringify(results.resume)}`)
  step('upload 40 MiB in parts, reload, resume')

  // A store whose CORS rules do not expose ETag: the browser cannot read a
  // part's ETag, so a multipart upload cannot be completed. It must end in
  // a clear error, not hang. The store's answers to part PUTs are replayed
  // without ETag in Access-Control-Expose-Headers.
  const hideEtag = async (route) => {
    // Parts go up in parallel: once one fails, the app aborts the upload,
    // and the store may cut a part still in flight. That part fails too.
    let resp
    try {
      resp = await route.fetch()
    } catch {
      await route.abort().catch(() => {})
      return
    }
    const headers = { ...resp.headers() }
    for (const k of Object.keys(headers)) {
      if (k.toLowerCase() === 'access-control-expose-headers') {
        headers[k] = headers[k].split(',').map((h) => h.trim()).filter((h) => h.toLowerCase() !== 'etag').join(', ')
      }
    }
    await route.fulfill({ response: resp, headers }).catch(() => {})
  }
  const partPUT = (u) => /[?&]partNumber=\d+/.test(u.toString())
  await page.route(partPUT, hideEtag)
  const alert = page.locator('#alert')
  await addFiles(page, join(files, 'hidden-etag.bin'))
  await page.locator('.uppy-StatusBar-actionBtn--upload').click()
  await alert.filter({ hasText: 'ETag' }).waitFor({ timeout: 60000 })
  results.hidden_etag_message = await alert.textContent()
  check(/ETag/.test(results.hidden_etag_message) && /CORS/.test(results.hidden_etag_message), `a store that hides ETag gives a clear error: ${results.hidden_etag_message}`)
  await page.unroute(partPUT, hideEtag)
  // The failed file is removed from the Dashboard, as a person would.
  await page.evaluate(() => { const u = window.filegateUppy; for (const f of u.getFiles()) if (f.name === 'hidden-etag.bin') u.removeFile(f.id) })
  await page.evaluate(() => { document.getElementById('alert').hidden = true })
  step('a store that hides ETag: clear error, no hang')

  // Download: the file as saved by the browser.
  const dl = page.waitForEvent('download')
  await (await rowFor('small.txt')).locator('button', { hasText: 'Download' }).click()
  const d = await dl
  const dlPath = join(out, 'download-small.txt')
  await d.saveAs(dlPath)
  check(d.suggestedFilename() === 'small.txt', 'the download keeps the file name')
  check(readFileSync(dlPath).equals(readFileSync(join(files, 'small.txt'))), 'downloaded bytes equal the uploaded ones')
  step('download')

  // Share with an expiry; copy the link.
  await (await rowFor('small.txt')).locator('button', { hasText: 'Share' }).click()
  await page.selectOption('#share-expiry', '86400')
  await page.click('#share-create')
  await page.locator('#share-out').waitFor()
  const link = await page.inputValue('#share-url')
  check(/X-Amz-Expires=86400/.test(link), 'the shared link carries the chosen expiry')
  await page.click('#share-copy')
  check(await page.evaluate(() => navigator.clipboard.readText()) === link, 'Copy puts the link on the clipboard')
  const fetched = Buffer.from(await (await fetch(link)).arrayBuffer())
  check(fetched.equals(readFileSync(join(files, 'small.txt'))), 'the shared link serves the file')
  await axe('share dialog')
  await shot('share-desktop')
  await page.keyboard.press('Escape')
  step('share a link')

  // Select two files and download them as one zip.
  await (await rowFor('small.txt')).locator('td.sel input').check()
  await (await rowFor('cat.jpg')).locator('td.sel input').check()
  const zdl = page.waitForEvent('download')
  await page.click('#zip')
  const z = await zdl
  await z.saveAs(join(out, 'selection.zip'))
  results.zip = join(out, 'selection.zip')
  step('zip a selection')

  // Caption editor: preview on the canvas, save, show the result.
  await (await rowFor('cat.jpg')).locator('button', { hasText: 'Caption' }).click()
  await page.locator('#view-caption').waitFor()
  await page.waitForFunction(() => document.getElementById('caption-canvas').width > 640 || document.getElementById('caption-canvas').height !== 480)
  const blank = await page.evaluate(() => document.getElementById('caption-canvas').toDataURL())
  await page.fill('#top-text', 'hello')
  await page.fill('#bottom-text', 'filegate')
  const drawn = await page.evaluate(() => document.getElementById('caption-canvas').toDataURL())
  check(blank !== drawn, 'the preview changes as text is typed')
  await axe('caption editor')
  await shot('caption-desktop')
  await page.click('#caption-save')
  await page.locator('#caption-result').waitFor({ timeout: 30000 })
  results.caption_key = await page.textContent('#caption-key')
  await page.waitForFunction(() => document.getElementById('caption-img').complete && document.getElementById('caption-img').naturalWidth > 0)
  await shot('caption-result-desktop')
  step('caption an image')

  // Phone width and dark mode screenshots of each view.
  if (shots) {
    await page.click('#caption-back')
    await waitForRow('cat.jpg')
    await shot('browse-desktop')
    await page.setViewportSize({ width: 390, height: 844 })
    await shot('browse-phone')
    await (await rowFor('cat.jpg')).locator('button', { hasText: 'Caption' }).click()
    await page.locator('#view-caption').waitFor()
    await page.fill('#top-text', 'hello')
    await shot('caption-phone')
    await page.emulateMedia({ colorScheme: 'dark' })
    await shot('caption-phone-dark')
    await page.click('#caption-back')
    await page.click('#upload-toggle')
    await shot('upload-phone-dark')
    await page.emulateMedia({ colorScheme: 'light' })
    await page.setViewportSize({ width: 1280, height: 860 })
  }

  // Sign out: the token and the cookie are gone; the sign-in form works.
  await page.click('#signout')
  await page.locator('#view-signin').waitFor()
  check(await page.evaluate(() => sessionStorage.getItem('filegate.token')) === null, 'sign-out clears sessionStorage')
  check(!(await context.cookies(base)).some((c) => c.name === 'filegate-session'), 'sign-out clears the session cookie')
  await axe('sign in')
  await shot('signin-desktop')
  await page.setViewportSize({ width: 390, height: 844 })
  await shot('signin-phone')
  await page.setViewportSize({ width: 1280, height: 860 })
  await page.fill('#token', 'fg_wrong_token')
  await page.click('#signin-form button[type=submit]')
  await page.locator('#alert:not([hidden])').waitFor()
  check((await page.textContent('#alert')).includes('not valid'), 'a wrong token gets a clear message')
  await page.fill('#token', token)
  await page.click('#signin-form button[type=submit]')
  await waitForRow('cat.jpg')
  step('sign out, sign in with the form')

  await uppy5('uppy5-small.txt', 'uppy5-big.bin')
  await uppy6('uppy6-small.txt', 'uppy6-big.bin')
}

// Uppy 6 (npm "uppy" 6.0.1 under the alias uppy6, unmodified) in a page of
// filegate's own origin: companionEndpoint and no headers, so its requests
// are authenticated by the session cookie that sign-in set. The bundle is
// served by the test (a route at filegate's origin), not by filegate, and
// imported into the app's page, a page filegate served (Chromium refuses a
// page the test made up access to loopback addresses such as the store's).
async function uppy6 (...names) {
  const p = await context.newPage()
  p.on('console', (m) => console.log('uppy6 page:', m.text()))
  const bundle = new URL('./node_modules/uppy6/dist/uppy.min.mjs', import.meta.url)
  await p.route(`${base}/test-uppy6/uppy.min.mjs`, (r) => r.fulfill({ contentType: 'text/javascript', path: bundle.pathname }))
  await p.goto(`${base}/`)
  await p.evaluate(async () => {
    const { Uppy, AwsS3 } = await import('/test-uppy6/uppy.min.mjs')
    const uppy = new Uppy({ id: 'uppy6', autoProceed: false })
    uppy.use(AwsS3, {
      companionEndpoint: location.origin,
      shouldUseMultipart: (file) => file.size > 8 * 1024 * 1024,
    })
    const input = Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'uppy6-files' })
    document.body.append(input)
    window.uploadAll = async () => {
      for (const f of input.files) uppy.addFile({ name: `uppy6/${f.name}`, type: f.type || 'application/octet-stream', data: f })
      const r = await uppy.upload()
      return { successful: r.successful.map((f) => f.name), failed: r.failed.map((f) => [f.name, String(f.error)]) }
    }
  })
  await p.locator('#uppy6-files').setInputFiles(names.map((n) => join(files, n)))
  const r = await p.evaluate(() => window.uploadAll())
  results.uppy6 = r
  check(r.failed.length === 0 && r.successful.length === names.length, `Uppy 6 uploaded ${names.join(', ')} with the session cookie: ${JSON.stringify(r.failed)}`)
  await p.close()
  step('Uppy 6 with the session cookie')
}
// Uppy 5 (npm "uppy" 5.2.4, its AwsS3 plugin with endpoint and an
// Authorization header) on a page of another origin.
async function uppy5 (...names) {
  const p = await context.newPage()
  p.on('console', (m) => console.log('uppy5 page:', m.text()))
  await p.goto(`${pageOrigin}/uppy5.html`)
  await p.waitForFunction(() => window.startUppy !== undefined)
  await p.evaluate(({ base, token }) => window.startUppy(base, token), { base, token })
  await p.locator('#files').setInputFiles(names.map((n) => join(files, n)))
  const r = await p.evaluate(() => window.uploadAll())
  results.uppy5 = r
  check(r.failed.length === 0 && r.successful.length === names.length, `Uppy 5 uploaded ${names.join(', ')} from ${pageOrigin}: ${JSON.stringify(r.failed)}`)
  await p.close()
  step('Uppy 5 from another origin')
}
