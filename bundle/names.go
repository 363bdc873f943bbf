package bundle

import (
	"github.com/filegate/filegate"

	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// EntryName turns an object key into a safe zip entry name: relative to
// base, UTF-8, "/" as the only separator (a backslash counts as one), no
// leading "/", no empty, "." or ".." segments, and every segment made safe
// by filegate.SafeName (no drive letters, control or bidi characters,
// leading spaces, Windows device names). It returns "" when nothing usable
// is left.
func EntryName(key, base string) string {
	name := strings.TrimPrefix(key, base)
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.ReplaceAll(name, "\\", "/")
	segs := strings.Split(name, "/")
	out := segs[:0]
	for _, s := range segs {
		if s = filegate.SafeName(s); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// uniqueNames makes names unique, case-insensitively (archives are often
// unpacked on case-insensitive file systems): the second "a.txt" becomes
// "a (2).txt".
type uniqueNames map[string]bool

func (u uniqueNames) take(name string) string {
	if name == "" {
		name = "unnamed"
	}
	// The number goes before the last segment's extension; a name that
	// is all extension (".profile") takes it at the end.
	dir, file := path.Split(name)
	ext := path.Ext(file)
	stem := strings.TrimSuffix(file, ext)
	if stem == "" {
		stem, ext = file, ""
	}
	try := name
	for i := 2; u[strings.ToLower(try)]; i++ {
		try = dir + stem + " (" + strconv.Itoa(i) + ")" + ext
	}
	u[strings.ToLower(try)] = true
	return try
}

// validName reports whether a produced entry name is safe to unpack.
func validName(n string) bool {
	if n == "" || !utf8.ValidString(n) || strings.HasPrefix(n, "/") || strings.Contains(n, "\\") {
		return false
	}
	for _, s := range strings.Split(n, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	for _, s := range strings.Split(n, "/") {
		if filegate.SafeName(s) != s {
			return false
		}
	}
	return !strings.ContainsFunc(n, unicode.IsControl)
}
