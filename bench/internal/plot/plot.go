// Package plot draws the latency-over-time chart of docs/benchmarks.md: one
// dot per request (when it started, how long it took), a colour per endpoint,
// and each endpoint's p99 per time bucket as a line, on a logarithmic
// latency axis so that 2 ms answers and 5 s timeouts are both readable.
//
// The input is a CSV of (elapsed_ms, latency_ms, endpoint) rows, which any
// load runner can write while it measures; LatencyFile turns it into a PNG.
package plot

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Point is one request: when it started (milliseconds since the run began),
// how long it took to answer, and which endpoint it called.
type Point struct {
	ElapsedMS float64
	LatencyMS float64
	Endpoint  string
}

// Mark is a labelled vertical line on the time axis (e.g. "Redis stopped").
type Mark struct {
	AtMS  float64
	Label string
}

// Limit is a labelled horizontal line on the latency axis (e.g. a deadline).
type Limit struct {
	MS    float64
	Label string
}

// Options shape the chart; the zero value gives a titled 1200×600 chart
// with one-second p99 buckets.
type Options struct {
	Title string
	// Width and Height in pixels (at 96 dpi); 0 means 1200×600.
	Width, Height int
	// BucketMS is the width of the p99 buckets; 0 means 1000.
	BucketMS float64
	Marks    []Mark
	Limits   []Limit
}

// minLatencyMS keeps sub-10 µs answers on the log axis.
const minLatencyMS = 0.01

// ReadCSV reads (elapsed_ms, latency_ms, endpoint) rows. A first row whose
// first field is not a number is taken as a header; extra columns are
// ignored; a malformed row is an error naming its line.
func ReadCSV(r io.Reader) ([]Point, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var pts []Point
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return pts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("plot: csv line %d: %w", line, err)
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("plot: csv line %d: want elapsed_ms,latency_ms,endpoint, got %d fields", line, len(rec))
		}
		el, err1 := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		lat, err2 := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if line == 1 && err1 != nil {
			continue // header
		}
		if err1 != nil || err2 != nil || math.IsNaN(el) || math.IsNaN(lat) || lat < 0 {
			return nil, fmt.Errorf("plot: csv line %d: elapsed_ms and latency_ms must be non-negative numbers", line)
		}
		pts = append(pts, Point{ElapsedMS: el, LatencyMS: lat, Endpoint: strings.TrimSpace(rec[2])})
	}
}

// LatencyFile reads the CSV at csvPath and writes the chart as a PNG at
// pngPath (its directory must exist).
func LatencyFile(csvPath, pngPath string, o Options) error {
	f, err := os.Open(csvPath)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer f.Close()
	pts, err := ReadCSV(f)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := LatencyPNG(&buf, pts, o); err != nil {
		return err
	}
	tmp := pngPath + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return os.Rename(tmp, filepath.Clean(pngPath))
}

// LatencyPNG draws pts as a PNG: x = seconds since the start, y = latency in
// milliseconds (log scale), dots per request and a p99 line per endpoint.
func LatencyPNG(w io.Writer, pts []Point, o Options) error {
	if len(pts) == 0 {
		return errors.New("plot: no points")
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 1200, 600
	}
	if o.BucketMS <= 0 {
		o.BucketMS = 1000
	}
	byEP := map[string][]Point{}
	var names []string
	maxX, maxY := 0.0, 0.0
	for _, p := range pts {
		if _, ok := byEP[p.Endpoint]; !ok {
			names = append(names, p.Endpoint)
		}
		byEP[p.Endpoint] = append(byEP[p.Endpoint], p)
		maxX, maxY = max(maxX, p.ElapsedMS), max(maxY, p.LatencyMS)
	}
	slices.Sort(names)

	p := gplot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = gplot.LogScale{}
	p.Y.Tick.Marker = gplot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max = 0, maxX/1000*1.01+0.001
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(max(minLatencyMS, minLatency(pts)))))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(max(maxY, minLatencyMS)*1.05)))
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true

	for i, name := range names {
		ep := byEP[name]
		c := plotutil.Color(i)
		dots := make(plotter.XYs, len(ep))
		for j, q := range ep {
			dots[j] = plotter.XY{X: q.ElapsedMS / 1000, Y: max(q.LatencyMS, minLatencyMS)}
		}
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: fade(c, len(pts)), Radius: vg.Points(dotRadius(len(pts))), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		if line := p99Line(ep, o.BucketMS); len(line) > 1 {
			l, err := plotter.NewLine(line)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.8)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s p99 per %gs (n=%d)", name, o.BucketMS/1000, len(ep)), l)
		} else {
			p.Legend.Add(fmt.Sprintf("%s (n=%d)", name, len(ep)), sc)
		}
	}
	for _, m := range o.Marks {
		x := m.AtMS / 1000
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.LineStyle = draw.LineStyle{Color: color.Gray{Y: 60}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(l)
		lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: []plotter.XY{{X: x, Y: p.Y.Max}}, Labels: []string{" " + m.Label}})
		if err == nil {
			lbl.TextStyle[0].YAlign = draw.YTop
			p.Add(lbl)
		}
	}
	for _, lim := range o.Limits {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: lim.MS}, {X: p.X.Max, Y: lim.MS}})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.LineStyle = draw.LineStyle{Color: color.RGBA{R: 200, A: 255}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(6), vg.Points(3)}}
		p.Add(l)
		lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: []plotter.XY{{X: p.X.Max, Y: lim.MS}}, Labels: []string{lim.Label + " "}})
		if err == nil {
			lbl.TextStyle[0].XAlign = draw.XRight
			lbl.TextStyle[0].YAlign = draw.YBottom
			p.Add(lbl)
		}
	}

	// 96 px per inch: vg lengths are points (72 per inch).
	wt, err := p.WriterTo(vg.Length(o.Width)*vg.Inch/96, vg.Length(o.Height)*vg.Inch/96, "png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("plot: write png: %w", err)
	}
	return nil
}

// p99Line returns each bucket's p99 at the bucket's middle.
func p99Line(ep []Point, bucketMS float64) plotter.XYs {
	buckets := map[int][]float64{}
	for _, q := range ep {
		b := int(q.ElapsedMS / bucketMS)
		buckets[b] = append(buckets[b], q.LatencyMS)
	}
	keys := make([]int, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(plotter.XYs, 0, len(keys))
	for _, k := range keys {
		v := buckets[k]
		slices.Sort(v)
		out = append(out, plotter.XY{X: (float64(k) + 0.5) * bucketMS / 1000, Y: max(Quantile(v, 0.99), minLatencyMS)})
	}
	return out
}

// Quantile returns the q-quantile (nearest rank) of sorted values.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func minLatency(pts []Point) float64 {
	m := math.Inf(1)
	for _, p := range pts {
		m = min(m, p.LatencyMS)
	}
	return m
}

// fade makes the dots translucent so the p99 lines stay visible; sparse
// charts get more opaque dots.
func fade(c color.Color, n int) color.Color {
	r, g, b, _ := c.RGBA()
	a := uint8(0x50)
	switch {
	case n < 2000:
		a = 0xa0
	case n < 10000:
		a = 0x70
	}
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

// dotRadius is larger for sparse charts.
func dotRadius(n int) float64 {
	if n < 2000 {
		return 1.8
	}
	return 1.2
}
