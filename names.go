package filegate

import (
	"strings"
	"unicode"
)

// SafeName makes one file name (a path segment, no separators) safe to
// write with common unzip tools (Info-ZIP, 7-Zip, Windows Explorer, macOS
// Archive Utility) and to save from browsers: control characters and the
// characters Windows forbids (<>:"|?* and both slashes) become "_", so a
// drive letter "C:" cannot anchor a path; format characters (bidi
// overrides such as U+202E that make "txt.exe" read "exe.txt", zero-width
// characters) are dropped; leading spaces and trailing spaces and dots
// (which Windows strips, merging names) are trimmed; and Windows device
// names (CON, NUL, COM1, ...) get a "_" in front. It returns "" when
// nothing is left.
func SafeName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || strings.ContainsRune(`<>:"|?*/\`, r):
			return '_'
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(name, " ")
	name = strings.TrimRight(name, " .")
	if isDeviceName(name) {
		name = "_" + name
	}
	return name
}

// isDeviceName reports whether Windows treats name (with any extension) as
// a device.
func isDeviceName(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	switch u := strings.ToUpper(strings.TrimRight(stem, " ")); u {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	default:
		return len(u) == 4 && (strings.HasPrefix(u, "COM") || strings.HasPrefix(u, "LPT")) && u[3] >= '0' && u[3] <= '9'
	}
}
