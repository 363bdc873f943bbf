//go:build race

package main

// raceEnabled: the browser test runs once, without the race detector (see TestBrowser).
const raceEnabled = true
