package filegate

import (
	"strings"
	"testing"
	"unicode"
)

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":           "report.pdf",
		"C:":                   "C_",
		"C:evil.txt":           "C_evil.txt",
		"invoice\u202Etxt.exe": "invoicetxt.exe",
		"  lead.txt":           "lead.txt",
		"trail.txt. . ":        "trail.txt",
		"a\x01b\x7fc":          "a_b_c",
		"CON":                  "_CON",
		"nul.txt":              "_nul.txt",
		"com1.log":             "_com1.log",
		"COM10":                "COM10",
		"console.txt":          "console.txt",
		"what?.txt":            "what_.txt",
		"zero\u200bwidth":      "zerowidth",
		"..":                   "",
		"...":                  "",
		"über naïve 東京.txt":    "über naïve 東京.txt",
		"bad\xffutf8":          "bad\uFFFDutf8",
		"a/b\\c":               "a_b_c",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"C:\\x", "\u202Eabc", " a. ", "CON.txt", "..", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := SafeName(s)
		if strings.ContainsAny(n, `<>:"|?*/\`) || strings.ContainsFunc(n, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
			t.Fatalf("SafeName(%q) = %q keeps an unsafe character", s, n)
		}
		if n != "" && (n[0] == ' ' || strings.HasSuffix(n, " ") || strings.HasSuffix(n, ".") || isDeviceName(n)) {
			t.Fatalf("SafeName(%q) = %q", s, n)
		}
		if SafeName(n) != n {
			t.Fatalf("SafeName is not idempotent on %q: %q then %q", s, n, SafeName(n))
		}
	})
}
