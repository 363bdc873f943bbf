// Drives Debian's Firefox ESR (puppeteer-core over WebDriver BiDi, no
// downloaded browser) through the web app's core flows: sign in from the
// printed link, list, upload a small and a multipart file through the
// Dashboard, download, caption preview. Started by
// cmd/filegate/browser_test.go (TestBrowserFirefox), which checks the store.
//
// Environment: FG_BASE, FG_TOKEN, FG_FILES, FG_OUT (as run.mjs).
import puppeteer from 'puppeteer-core'
import { writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { env, recorder } from './record.mjs'

const base = env('FG_BASE')
const token = env('FG_TOKEN')
const files = env('FG_FILES')
const out = env('FG_OUT')

const results = { timings: {}, checks: [] }
const t0 = Date.now()
const { step, check } = recorder(results)

const exe = ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find(existsSync)
const browser = await puppeteer.launch({ browser: 'firefox', executablePath: exe, headless: true })
try {
  const page = await browser.newPage()
  await page.setViewport({ width: 1280, height: 860 })
  page.on('pageerror', (err) => console.log('page error:', err.message))
  results.user_agent = await browser.userAgent()

  const rowNames = () => page.$$eval('#rows tr button.name', (bs) => bs.map((b) => b.textContent))
  const waitForRow = (name, timeout = 60000) => page.waitForFunction((n) => [...document.querySelectorAll('#rows tr button.name')].some((b) => b.textContent === n), { timeout }, name)

  await page.goto(`${base}/#token=${token}`)
  await page.waitForSelector('#who', { visible: true })
  await waitForRow('cat.jpg')
  check(!page.url().includes('token='), 'the token leaves the address bar')
  step('sign in from the link, list')

  await page.click('#upload-toggle')
  const input = await page.waitForSelector('.uppy-Dashboard-input')
  await input.uploadFile(join(files, 'ff-small.txt'), join(files, 'ff-big.bin'))
  await page.click('.uppy-StatusBar-actionBtn--upload')
  await waitForRow('ff-small.txt')
  await waitForRow('ff-big.bin', 120000)
  results.rows = await rowNames()
  step('upload a small and a multipart file')

  // Download: ask the app for the grant the Download button uses, and
  // fetch it as the browser would (same origin rules, the store's CORS).
  const downloaded = await page.evaluate(async (tok) => {
    const r = await fetch('/v1/downloads', { method: 'POST', headers: { authorization: 'Bearer ' + tok, 'content-type': 'application/json' }, body: JSON.stringify({ key: 'users/alice/ff-small.txt', filename: 'ff-small.txt' }) })
    const g = await r.json()
    return await (await fetch(g.url)).text()
  }, token)
  results.downloaded = downloaded
  step('download')

  // Caption editor: the canvas preview changes with the text; saving
  // stores the result and shows it.
  await page.evaluate(() => {
    const tr = [...document.querySelectorAll('#rows tr')].find((r) => [...r.querySelectorAll('button.name')].some((b) => b.textContent === 'cat.jpg'))
    ;[...tr.querySelectorAll('button')].find((b) => b.textContent === 'Caption').click()
  })
  await page.waitForSelector('#view-caption', { visible: true })
  await page.waitForFunction(() => document.getElementById('caption-canvas').width > 640 || document.getElementById('caption-canvas').height !== 480)
  const blank = await page.evaluate(() => document.getElementById('caption-canvas').toDataURL())
  await page.type('#top-text', 'HELLO FIREFOX')
  await page.waitForFunction((b) => document.getElementById('caption-canvas').toDataURL() !== b, {}, blank)
  check(true, 'the caption preview draws the text')
  await page.click('#caption-save')
  await page.waitForSelector('#caption-result', { visible: true, timeout: 30000 })
  results.caption_key = await page.$eval('#caption-key', (e) => e.textContent)
  await page.waitForFunction(() => document.getElementById('caption-img').complete && document.getElementById('caption-img').naturalWidth > 0)
  step('caption an image')
} finally {
  results.total_ms = Date.now() - t0
  writeFileSync(join(out, 'results-firefox.json'), JSON.stringify(results, null, 2))
  await browser.close()
}
