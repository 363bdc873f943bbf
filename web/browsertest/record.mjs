// What both browser scripts share: the environment, and the results file's
// step timings and checks.
export const env = (k) => { const v = process.env[k]; if (v === undefined) throw new Error(`${k} is not set`); return v }

// recorder returns step (time since the last step, printed) and check
// (throws when cond is false, else records msg) writing into results.
export function recorder (results) {
  results.timings ??= {}
  results.checks ??= []
  let last = Date.now()
  return {
    step (name) {
      const now = Date.now()
      results.timings[name] = now - last
      last = now
      console.log(`ok ${name} (${results.timings[name]} ms)`)
    },
    check (cond, msg) {
      if (!cond) throw new Error(`check failed: ${msg}`)
      results.checks.push(msg)
    },
  }
}
