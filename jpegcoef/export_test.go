//go:build cgo && libjpeg

package jpegcoef

// Indexed reports whether m was opened on the index (only the rows from
// Rows on decoded).
func Indexed(m *Image) bool { return m.indexed() }

// Reencoded reports whether m's last Encode went through libjpeg whole.
func Reencoded(m *Image) bool { return m.reencoded }
