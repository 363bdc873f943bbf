//go:build !(cgo && libjpeg)

package jpegcoef

func Indexed(*Image) bool { return false }

func Reencoded(*Image) bool { return false }
