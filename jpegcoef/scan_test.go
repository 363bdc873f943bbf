package jpegcoef_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/filegate/filegate/internal/testtool"
	"github.com/filegate/filegate/jpegcoef"
)

// photoPPM is a w×h picture with gradients, edges and noise, as PPM: a
// scan of it uses a good part of a Huffman table's symbols.
func photoPPM(w, h int) []byte {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	var b bytes.Buffer
	fmt.Fprintf(&b, "P6\n%d %d\n255\n", w, h)
	for y := range h {
		for x := range w {
			n := byte(rng.IntN(24))
			edge := byte(0)
			if (x/13+y/11)%3 == 0 {
				edge = 90
			}
			b.Write([]byte{byte(x*255/w) + n, byte(y*255/h) + edge, byte((x+y)*2) ^ n})
		}
	}
	return b.Bytes()
}

// cjpegVariants encodes one picture with cjpeg in the layouts and codings
// the index must handle (and one it must leave to libjpeg).
func cjpegVariants(t *testing.T, w, h int) map[string][]byte {
	t.Helper()
	bin := testtool.Find(t, "cjpeg", "apt-get install libjpeg-turbo-progs")
	in := filepath.Join(t.TempDir(), "in.ppm")
	if err := os.WriteFile(in, photoPPM(w, h), 0o600); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, args := range map[string][]string{
		"4:2:0":                   {"-quality", "90"},
		"4:4:4":                   {"-sample", "1x1"},
		"4:2:2":                   {"-sample", "2x1"},
		"4:4:0":                   {"-sample", "1x2"},
		"grayscale":               {"-grayscale"},
		"restart every MCU row":   {"-restart", "1"},
		"restart every 3 MCUs":    {"-restart", "3B"},
		"restart every MCU":       {"-restart", "1B"},
		"optimized tables":        {"-optimize"},
		"optimized 4:4:4 restart": {"-optimize", "-sample", "1x1", "-restart", "2B"},
		"grayscale restart":       {"-grayscale", "-restart", "5B"},
		"progressive":             {"-progressive"},
	} {
		cmd := exec.Command(bin, append(args, in)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("cjpeg %v: %v: %s", args, err, stderr.Bytes())
		}
		out[name] = b
	}
	out["go 4:2:0"] = sample(t, w, h)
	return out
}

// allBlocks reads every block of every component.
func allBlocks(m *jpegcoef.Image) [][]int16 {
	var all [][]int16
	for ci, c := range m.Info().Components {
		b := make([]int16, c.BlocksW*c.BlocksH*64)
		m.ReadBlocks(ci, 0, 0, c.BlocksW, c.BlocksH, b)
		all = append(all, b)
	}
	return all
}

// firstRow is the first block row of component c that Rows(y) decodes.
func firstRow(info jpegcoef.Info, c jpegcoef.Component, y int) int {
	if len(info.Components) == 1 {
		return y / (8 * info.MaxV / c.V)
	}
	return y / (8 * info.MaxV) * c.V
}

// compareIndexed checks Open against OpenWhole on src: both accept it or
// both refuse it; if accepted, the rows from y decode to the same
// coefficients, and the image encoded (with change applied to both
// first) decodes to the same coefficients as libjpeg's whole path. It
// returns the indexed image's state for more checks; nil if refused.
func compareIndexed(t testing.TB, src []byte, y int, change func(*jpegcoef.Image)) (out []byte, indexed, reencoded bool) {
	t.Helper()
	m, err := jpegcoef.Open(src, 1<<22)
	if err == nil {
		defer m.Close()
		// A baseline scan is decoded by Rows, which reports its faults.
		err = m.Rows(y)
	}
	whole, werr := jpegcoef.OpenWhole(src, 1<<22)
	if werr == nil {
		defer whole.Close()
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("Open: %v, OpenWhole: %v", err, werr)
	}
	if err != nil {
		if !errors.Is(err, jpegcoef.ErrCorrupt) && !errors.Is(err, jpegcoef.ErrTooLarge) {
			t.Fatalf("Open: %v", err)
		}
		return nil, false, false
	}
	info := m.Info()
	if !slices.EqualFunc(info.Components, whole.Info().Components, func(a, b jpegcoef.Component) bool { return a == b }) {
		t.Fatalf("components %+v, whole %+v", info.Components, whole.Info().Components)
	}
	for ci, c := range info.Components {
		by := 0
		if jpegcoef.Indexed(m) {
			by = firstRow(info, c, y)
		}
		if by >= c.BlocksH {
			continue
		}
		got := make([]int16, c.BlocksW*(c.BlocksH-by)*64)
		want := make([]int16, len(got))
		m.ReadBlocks(ci, 0, by, c.BlocksW, c.BlocksH, got)
		whole.ReadBlocks(ci, 0, by, c.BlocksW, c.BlocksH, want)
		if !slices.Equal(got, want) {
			t.Fatalf("component %d rows %d-%d: coefficients differ from libjpeg's", ci, by, c.BlocksH)
		}
	}
	if change != nil {
		change(m)
		change(whole)
	}
	out, err = m.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	// A coefficient out of the range an 8-bit baseline scan can code
	// (libjpeg decodes some damaged files to such values without a
	// warning) cannot come back the same through libjpeg's encoder, which
	// writes it as it can; the index refuses such files.
	want := allBlocks(whole)
	if !jpegcoef.Indexed(m) && !codable(want) {
		return out, false, false
	}
	back, err := jpegcoef.OpenWhole(out, 1<<22)
	if err != nil {
		t.Fatalf("the output does not decode: %v", err)
	}
	defer back.Close()
	if !slices.EqualFunc(allBlocks(back), want, slices.Equal[[]int16]) {
		t.Fatal("the output's coefficients differ from the source's (with the change)")
	}
	return out, jpegcoef.Indexed(m), jpegcoef.Reencoded(m)
}

// codable reports whether every coefficient fits an 8-bit baseline scan:
// DC within ±2047, AC within ±1023.
func codable(comps [][]int16) bool {
	for _, c := range comps {
		for k, v := range c {
			if lim := int16(1023); k%64 == 0 && (v > 2047 || v < -2047) || k%64 != 0 && (v > lim || v < -lim) {
				return false
			}
		}
	}
	return true
}

// TestIndexMatchesLibjpeg: for every layout and coding the index takes,
// the rows it decodes are libjpeg's coefficients, and what it encodes
// decodes (in libjpeg) to the source's coefficients with the change made;
// the rows above the change are the source's bytes. A change the
// source's optimized tables cannot code goes through libjpeg whole.
func TestIndexMatchesLibjpeg(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	const w, h = 203, 157
	for name, src := range cjpegVariants(t, w, h) {
		t.Run(name, func(t *testing.T) {
			for _, y := range []int{0, 8, 16, 17, h / 2, h - 9, h - 1} {
				for _, heavy := range []bool{false, true} {
					// A block in the bottom row: ordinary values, or one
					// coefficient of the largest size an AC may take.
					change := func(m *jpegcoef.Image) {
						c := m.Info().Components[0]
						var b [64]int16
						m.ReadBlocks(0, 1, c.BlocksH-1, 2, c.BlocksH, b[:])
						b[0] += 3
						b[9] = 5
						if heavy {
							b[63] = -1000
						}
						m.WriteBlock(0, 1, c.BlocksH-1, &b)
					}
					out, indexed, reencoded := compareIndexed(t, src, y, change)
					if indexed == (name == "progressive") {
						t.Fatalf("indexed %v", indexed)
					}
					if !indexed {
						continue
					}
					optimized := name == "optimized tables" || name == "optimized 4:4:4 restart"
					if reencoded != (heavy && optimized) {
						t.Errorf("y %d heavy %v: encoded whole by libjpeg: %v", y, heavy, reencoded)
					}
					if !reencoded && y >= h/2 {
						// Everything above the decoded rows is the source's.
						common := 0
						for common < min(len(out), len(src)) && out[common] == src[common] {
							common++
						}
						if common < len(src)*(y-16)/h*9/10 { // the tail starts at the MCU row holding y
							t.Errorf("y %d: the output shares only %d of %d bytes with the source", y, common, len(src))
						}
					}
				}
			}
		})
	}
}

// TestIndexLargeTail: a tail of more than 6,000 blocks is coded in two
// halves side by side (the second unstuffed, then appended); the result
// is the same as libjpeg's.
func TestIndexLargeTail(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	const w, h = 1024, 400
	vars := cjpegVariants(t, w, h)
	for _, name := range []string{"4:2:0", "4:4:4", "grayscale", "optimized tables", "go 4:2:0"} {
		for _, y := range []int{0, 100, 250} {
			change := func(m *jpegcoef.Image) {
				// A block in each half of the tail.
				for _, by := range []int{y / 8, m.Info().Components[0].BlocksH - 1} {
					var b [64]int16
					m.ReadBlocks(0, 5, by, 6, by+1, b[:])
					b[0] -= 4
					b[2] = -7
					m.WriteBlock(0, 5, by, &b)
				}
			}
			if _, indexed, reencoded := compareIndexed(t, vars[name], y, change); !indexed || reencoded {
				t.Errorf("%s y %d: indexed %v, encoded whole %v", name, y, indexed, reencoded)
			}
		}
	}
}

// TestIndexDamagedScans: bytes changed anywhere in a scan (or cut off)
// are accepted by the index only when libjpeg accepts them too, and then
// to the same coefficients.
func TestIndexDamagedScans(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg: go test -tags libjpeg")
	}
	vars := cjpegVariants(t, 64, 48)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"4:2:0", "restart every 3 MCUs", "optimized tables", "grayscale restart"} {
		src := vars[name]
		sos := bytes.LastIndex(src, []byte{0xFF, 0xDA})
		for i := sos + 14; i < len(src); i += 3 {
			bad := bytes.Clone(src)
			bad[i] = byte(rng.IntN(256))
			compareIndexed(t, bad, rng.IntN(48), nil)
			compareIndexed(t, src[:i], 40, nil)
		}
	}
}

// benchPhoto is a noisy 4K photo-like picture, as Go encodes it.
func benchPhoto(b *testing.B) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 3840, 2160))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range 2160 {
		for x := range 3840 {
			n := uint8(rng.IntN(20))
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x/3)+n, uint8(y/2)+n, uint8((x+y)/5)+n, 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkOpen4K: indexing a 4K baseline JPEG against libjpeg decoding
// it whole.
func BenchmarkOpen4K(b *testing.B) {
	if !jpegcoef.Available {
		b.Skip("built without libjpeg: go test -tags libjpeg")
	}
	data := benchPhoto(b)
	b.SetBytes(int64(len(data)))
	for _, whole := range []bool{false, true} {
		b.Run(fmt.Sprintf("whole=%v", whole), func(b *testing.B) {
			for b.Loop() {
				open := jpegcoef.Open
				if whole {
					open = jpegcoef.OpenWhole
				}
				m, err := open(data, 1e8)
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
			}
		})
	}
}

// BenchmarkTail4K: decoding and encoding the bottom quarter of a 4K
// baseline JPEG.
func BenchmarkTail4K(b *testing.B) {
	if !jpegcoef.Available {
		b.Skip("built without libjpeg: go test -tags libjpeg")
	}
	data := benchPhoto(b)
	m, err := jpegcoef.Open(data, 1e8)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.Run("rows", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			m.Close()
			if m, err = jpegcoef.Open(data, 1e8); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := m.Rows(2160 * 3 / 4); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Logf("%d bytes", len(data))
}
