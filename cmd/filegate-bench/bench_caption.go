package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/image/font/gofont/gobold"
)

const benchCaptionText = "ONE DOES NOT SIMPLY CAPTION A PHOTO"

// benchCaption compares captioning a 1920×1080 JPEG through filegate (fetch,
// decode, render, encode, store: the whole request) with ImageMagick's
// convert -annotate on a local file, with the same font (Go Bold).
func benchCaption(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	data, err := os.MkdirTemp("", "filegate-bench-caption-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	// A photo-like image: smooth gradients with noise, so JPEG has work.
	img := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
	rng := rand.New(rand.NewPCG(3, 4))
	for y := range 1080 {
		for x := range 1920 {
			n := uint8(rng.IntN(24))
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x/8)+n, uint8(y/5)+n, uint8((x+y)/12)+n, 255
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	in := filepath.Join(data, "in.jpg")
	fontPath := filepath.Join(data, "GoBold.ttf")
	if err := os.WriteFile(in, jb.Bytes(), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(fontPath, gobold.TTF, 0o600); err != nil {
		return nil, err
	}

	fg, err := startChild(ctx, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(data, "fg"), "--log-level", "error")
	if err != nil {
		return nil, err
	}
	defer fg.stop()
	_, s3c, err := benchStore(filepath.Join(data, "fg"))
	if err != nil {
		return nil, err
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("filegate"), Key: aws.String("photo.jpg"), Body: bytes.NewReader(jb.Bytes())}); err != nil {
		return nil, err
	}
	before := currentRSS(fg.cmd.Process.Pid)
	var fgT []float64
	body := fmt.Sprintf(`{"key":"photo.jpg","bottom_text":%q}`, benchCaptionText)
	for range o.rounds {
		t0 := time.Now()
		if err := postOK(fg, "/v1/captions", body); err != nil {
			return nil, err
		}
		fgT = append(fgT, time.Since(t0).Seconds())
	}
	peak := peakRSS(fg.cmd.Process.Pid)
	fmt.Fprintf(stderr, "bench: caption filegate %v\n", fgT)

	rows := []row{{"caption 1920×1080 JPEG: filegate", fmt.Sprintf("%.0f ms", median(fgT)*1000), "1.00×",
		fmt.Sprintf("fetch+decode+render+encode+store; server peak RSS %.0f MiB (%.0f MiB before)", float64(peak)/(1<<20), float64(before)/(1<<20))}}
	convert := imageMagick()
	if convert == "" {
		return append(rows, row{"caption 1920×1080 JPEG: ImageMagick", "-", "-", "skipped: no ImageMagick convert binary (apt-get install imagemagick)"}), nil
	}
	var imT []float64
	var imRSS int64
	for range o.rounds {
		out := filepath.Join(data, "out.jpg")
		cmd := exec.Command(convert, in, "-font", fontPath, "-pointsize", "108", "-fill", "white", "-stroke", "black", "-strokewidth", "8",
			"-gravity", "south", "-annotate", "+0+32", benchCaptionText, "-quality", "90", out)
		t0 := time.Now()
		if msg, err := cmd.CombinedOutput(); err != nil {
			return append(rows, row{"caption 1920×1080 JPEG: ImageMagick", "-", "-", "failed: " + string(msg)}), nil
		}
		imT = append(imT, time.Since(t0).Seconds())
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			imRSS = max(imRSS, ru.Maxrss*1024)
		}
	}
	fmt.Fprintf(stderr, "bench: caption imagemagick %v\n", imT)
	return append(rows, row{"caption 1920×1080 JPEG: ImageMagick convert -annotate", fmt.Sprintf("%.0f ms", median(imT)*1000),
		fmt.Sprintf("%.1f× filegate's time", median(imT)/median(fgT)), fmt.Sprintf("goal ≥ 3×; local file, same font; peak RSS %.0f MiB", float64(imRSS)/(1<<20))}), nil
}

// currentRSS reads a process's resident set (VmRSS) in bytes.
func currentRSS(pid int) int64 { return procStatus(pid, "VmRSS:") }

// imageMagick finds ImageMagick's own convert program: a script of the
// same name earlier on PATH (a wrapper) would add its interpreter's start
// to every run and flatter filegate, so only an executable that is not a
// script counts.
func imageMagick() string {
	var cands []string
	if p, err := exec.LookPath("convert"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/convert", "/usr/local/bin/convert")
	for _, p := range cands {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		head := make([]byte, 4)
		_, err = io.ReadFull(f, head)
		f.Close()
		if err == nil && string(head) == "\x7fELF" {
			return p
		}
	}
	return ""
}
