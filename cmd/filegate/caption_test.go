package main

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/filegate/filegate/internal/harness"
	"github.com/filegate/filegate/jpegcoef"
)

func jpegBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{40, 90, 160, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type captionResp struct {
	Key           string `json:"key"`
	URL           string `json:"url"`
	ContentType   string `json:"content_type"`
	Data          string `json:"data"`
	MissingGlyphs int    `json:"missing_glyphs"`
}

func TestCaption(t *testing.T) {
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) { testCaption(t, harness.Start(t, name, "--caption-max-pixels", "4000000")) })
	}
}

func testCaption(t *testing.T, e *harness.Env) {
	alice := e.Token("alice", "users/alice/", 0, "caption")
	e.Put("users/alice/cat.jpg", jpegBytes(t, 640, 360))
	e.Put("users/bob/dog.jpg", jpegBytes(t, 64, 64))

	var c captionResp
	r := e.Call(alice, "POST", "/v1/captions", map[string]any{"key": "users/alice/cat.jpg", "top_text": "ONE DOES NOT SIMPLY", "bottom_text": "caption with curl", "inline": true})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &c)
	if c.ContentType != "image/jpeg" || c.Data == "" || len(c.Key) < len("users/alice/") || c.Key[:12] != "users/alice/" {
		t.Fatalf("caption = %+v", c)
	}
	status, body, h := harness.Fetch(t, c.URL)
	if status != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET caption: %d %s", status, h.Get("Content-Type"))
	}
	inline, _ := base64.StdEncoding.DecodeString(c.Data)
	if !bytes.Equal(inline, body) {
		t.Error("inline bytes differ from the stored image")
	}
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds().Dx() != 640 {
		t.Fatalf("stored caption: %v %v", err, img.Bounds())
	}
	// White text landed near the top and the bottom.
	white := func(y0, y1 int) bool {
		for y := y0; y < y1; y++ {
			for x := 0; x < 640; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if r > 0xe000 && g > 0xe000 && b > 0xe000 {
					return true
				}
			}
		}
		return false
	}
	if !white(5, 60) || !white(300, 355) || white(150, 200) {
		t.Error("caption text not at the top and bottom only")
	}

	// Positioned text, PNG output, explicit output key.
	r = e.Call(alice, "POST", "/v1/captions", map[string]any{"key": "users/alice/cat.jpg", "text": "hi", "x": "25%", "y": 10, "align": "left",
		"format": "png", "output_key": "users/alice/out/hi.png", "color": "#ff0", "scale": 0.2})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &c)
	if c.Key != "users/alice/out/hi.png" || c.ContentType != "image/png" {
		t.Errorf("positioned caption = %+v", c)
	}
	_, body, _ = harness.Fetch(t, c.URL)
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("png output: %v", err)
	}

	// Animated GIF keeps its frames.
	pal := color.Palette{color.RGBA{0, 0, 0, 255}, color.RGBA{0, 200, 0, 255}}
	g := &gif.GIF{}
	for i := range 4 {
		f := image.NewPaletted(image.Rect(0, 0, 120, 80), pal)
		f.Pix[0] = uint8(i % 2)
		g.Image, g.Delay = append(g.Image, f), append(g.Delay, 5+i)
	}
	var gb bytes.Buffer
	gif.EncodeAll(&gb, g)
	e.Put("users/alice/anim.gif", gb.Bytes())
	r = e.Call(alice, "POST", "/v1/captions", map[string]any{"key": "users/alice/anim.gif", "text": "LOOP"})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &c)
	_, body, _ = harness.Fetch(t, c.URL)
	back, err := gif.DecodeAll(bytes.NewReader(body))
	if err != nil || len(back.Image) != 4 || back.Delay[3] != 8 {
		t.Fatalf("gif: %v, %d frames", err, len(back.Image))
	}

	// Unicode the font lacks is counted, not dropped silently.
	r = e.Call(alice, "POST", "/v1/captions", map[string]any{"key": "users/alice/cat.jpg", "text": "猫 cat"})
	harness.MustStatus(t, r, 200)
	r.JSON(t, &c)
	if c.MissingGlyphs != 1 {
		t.Errorf("missing_glyphs = %d, want 1", c.MissingGlyphs)
	}

	// Bad input and limits.
	e.Put("users/alice/notes.txt", []byte("not an image at all"))
	full := jpegBytes(t, 300, 300)
	e.Put("users/alice/truncated.jpg", full[:len(full)/2])
	var bomb bytes.Buffer
	png.Encode(&bomb, image.NewGray(image.Rect(0, 0, 3000, 3000))) // 9 MP, a few KiB
	e.Put("users/alice/bomb.png", bomb.Bytes())
	for _, bad := range []struct {
		body   map[string]any
		status int
	}{
		{map[string]any{"key": "users/alice/notes.txt", "text": "x"}, 415},
		{map[string]any{"key": "users/alice/truncated.jpg", "text": "x"}, 400},
		{map[string]any{"key": "users/alice/bomb.png", "text": "x"}, 413},
		{map[string]any{"key": "users/alice/missing.jpg", "text": "x"}, 404},
		{map[string]any{"key": "users/bob/dog.jpg", "text": "x"}, 403},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "output_key": "users/bob/x.jpg"}, 403},
		{map[string]any{"key": "users/alice/cat.jpg"}, 400},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "top_text": "y"}, 400},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "scale": 5}, 400},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "x": "200%"}, 400},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "color": "chartreuse-ish"}, 400},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "format": "bmp"}, 400},
		{map[string]any{"key": "users/alice/cat.jpg", "text": "x", "align": "justify"}, 400},
	} {
		r := e.Call(alice, "POST", "/v1/captions", bad.body)
		if r.Status != bad.status {
			t.Errorf("%v: status %d, want %d (%s)", bad.body, r.Status, bad.status, r.Body)
		}
	}
	nocap := e.Token("nocap", "users/alice/", 0, "download")
	harness.MustStatus(t, e.Call(nocap, "POST", "/v1/captions", map[string]any{"key": "users/alice/cat.jpg", "text": "x"}), 403)
}

func TestCaptionByteLimit(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", "--caption-max-bytes", "1000")
	e.Put("big.jpg", jpegBytes(t, 400, 400))
	r := e.Call(e.Admin, "POST", "/v1/captions", map[string]any{"key": "big.jpg", "text": "x"})
	harness.MustStatus(t, r, 413)
	if p := r.Problem(t); p["code"] != "image_too_large" {
		t.Errorf("code %v, want image_too_large", p["code"])
	}
}

// TestCaptionJPEGLosslessOutsideText: through the API, on both stores, a
// JPEG caption (built with -tags libjpeg) changes only the MCU rows the
// text reaches: every other row decodes to the source's exact pixels, and
// the source's EXIF is kept, and the bytes above the text are the
// source's. A build without libjpeg re-encodes the whole picture, which
// this test would catch, so it is skipped there.
func TestCaptionJPEGLosslessOutsideText(t *testing.T) {
	if !jpegcoef.Available {
		t.Skip("built without libjpeg (go test -tags libjpeg)")
	}
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) {
			e := harness.Start(t, name)
			alice := e.Token("alice", "users/alice/", 0, "caption")
			// A photo-like source with an APP1 (EXIF) segment.
			img := image.NewRGBA(image.Rect(0, 0, 800, 600))
			for y := range 600 {
				for x := range 800 {
					i := img.PixOffset(x, y)
					img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x/4), uint8(y/3), uint8((x*y)>>9), 255
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				t.Fatal(err)
			}
			exif := []byte("\xff\xe1\x00\x22Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00")
			src := append(append(append([]byte{}, buf.Bytes()[:2]...), exif...), buf.Bytes()[2:]...)
			e.Put("users/alice/photo.jpg", src)

			var c captionResp
			r := e.Call(alice, "POST", "/v1/captions", map[string]any{"key": "users/alice/photo.jpg", "bottom_text": "ONLY HERE"})
			harness.MustStatus(t, r, 200)
			r.JSON(t, &c)
			_, out, _ := harness.Fetch(t, c.URL)
			if !bytes.Contains(out, exif[4:]) {
				t.Error("the EXIF segment was not kept")
			}
			a, err := jpeg.Decode(bytes.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			b, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			ay, by := a.(*image.YCbCr), b.(*image.YCbCr)
			first, last := -1, -1
			for y := range 600 {
				if !bytes.Equal(ay.Y[y*ay.YStride:][:800], by.Y[y*by.YStride:][:800]) ||
					!bytes.Equal(ay.Cb[y/2*ay.CStride:][:400], by.Cb[y/2*by.CStride:][:400]) {
					if first < 0 {
						first = y
					}
					last = y
				}
			}
			// 4:2:0: MCUs are 16 rows; the text sits in the bottom fifth.
			if first < 0 || first < 600*3/4 || first%16 != 0 {
				t.Errorf("rows %d..%d changed: want only whole MCU rows in the bottom quarter", first, last)
			}
			// A baseline source's rows above the text are its own bytes,
			// not coded again.
			common := 0
			for common < min(len(src), len(out)) && src[common] == out[common] {
				common++
			}
			if common < len(src)/2 {
				t.Errorf("the output shares only its first %d of %d bytes with the source", common, len(src))
			}
		})
	}
}
