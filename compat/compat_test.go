package compat

import "testing"

func TestCompatSeconds(t *testing.T) {
	for in, want := range map[string]int64{``: 0, `null`: 0, `600`: 600, `"600"`: 600, `604800`: 604800, `"1"`: 1} {
		if got, err := compatSeconds([]byte(in)); err != nil || got != want {
			t.Errorf("compatSeconds(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{`"600abc"`, `1e3`, `"1e3"`, `600.0`, `-1`, `0`, `"0"`, `604801`, `99999999999999999999`, `""`, `"`, `true`, `" 6"`, `"0x1"`} {
		if got, err := compatSeconds([]byte(in)); err == nil {
			t.Errorf("compatSeconds(%s) = %d, want an error", in, got)
		}
	}
}

func FuzzCompatSeconds(f *testing.F) {
	for _, s := range []string{`600`, `"600abc"`, `1e3`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := compatSeconds([]byte(s))
		if err == nil && (n < 0 || n > 604800) {
			t.Fatalf("compatSeconds(%q) = %d", s, n)
		}
	})
}
