package main

import (
	"fmt"
	"html"
	"strings"
)

// bar is one bar of a panel; Muted bars are published figures, not
// measured ones.
type bar struct {
	Label string
	Value float64
	Text  string
	Muted bool
}

// panel is one horizontal bar chart with an optional target line.
type panel struct {
	Title  string
	Note   string
	Bars   []bar
	Max    float64
	Target float64 // 0: none
}

const (
	svgWidth   = 880
	labelWidth = 250
	barHeight  = 22
	barGap     = 8
	plotWidth  = 520
)

func renderSVG(m machine, f figures) string {
	var panels []panel

	kmsPanel := panel{Title: "KMS calls per 1,000 operations, one merchant, cold start", Note: "lower is better; simulated 5 ms KMS round trip"}
	for _, row := range []struct{ label, name string }{
		{"this vault: vault card", "KMSPer1000/vault/vault-card"},
		{"this vault: reveal card", "KMSPer1000/vault/reveal-card"},
		{"Tink envelope AEAD: encrypt", "KMSPer1000/tink/encrypt"},
		{"Tink envelope AEAD: decrypt", "KMSPer1000/tink/decrypt"},
	} {
		if v, ok := f.get(row.name, "kms-calls/1000ops"); ok {
			kmsPanel.Bars = append(kmsPanel.Bars, bar{Label: row.label, Value: v, Text: num(v)})
			kmsPanel.Max = max(kmsPanel.Max, v)
		}
	}
	panels = append(panels, kmsPanel)

	sizePanel := panel{Title: "Ciphertext overhead per record (bytes)", Note: "lower is better; grey: published figures, not measured here", Target: targetOverhead}
	if v, ok := f.get("CiphertextSize/vault", "overhead-bytes"); ok {
		sizePanel.Bars = append(sizePanel.Bars, bar{Label: "this vault", Value: v, Text: num(v)})
	}
	if v, ok := f.get("CiphertextSize/tink", "overhead-bytes"); ok {
		sizePanel.Bars = append(sizePanel.Bars, bar{Label: "Tink envelope AEAD (lower bound)", Value: v, Text: num(v)})
	}
	sizePanel.Bars = append(sizePanel.Bars,
		bar{Label: "DB-ESDK (published)", Value: 300, Text: "~300+", Muted: true},
		bar{Label: "ESDK (published)", Value: 500, Text: "~500", Muted: true})
	sizePanel.Max = 500
	panels = append(panels, sizePanel)

	ratioPanel := panel{Title: "Request-path CPU as a multiple of the bare JOSE floor", Note: "target line 1.15x; same keys, same run, interleaved", Target: targetRatio, Max: 1.5}
	for _, path := range []string{"vault-card", "reveal-card"} {
		for _, alg := range algNames {
			if v, ok := f.get("RequestPath/"+path+"/"+alg, "x-floor-cpu"); ok {
				ratioPanel.Bars = append(ratioPanel.Bars, bar{Label: path + " " + alg, Value: v, Text: fmt.Sprintf("%.2fx", v)})
				ratioPanel.Max = max(ratioPanel.Max, v*1.1)
			}
		}
	}
	panels = append(panels, ratioPanel)

	var b strings.Builder
	y := 40
	for _, p := range panels {
		y += 48 + len(p.Bars)*(barHeight+barGap) + 18
	}
	height := y + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="24" font-size="15" font-weight="bold">Card vault benchmarks: %s</text>`+"\n",
		esc(fmt.Sprintf("%d CPUs, %s, %s, %s", m.CPUs, m.Model, m.Go, m.Date)))
	y = 40
	for _, p := range panels {
		y = drawPanel(&b, p, y)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func drawPanel(b *strings.Builder, p panel, y int) int {
	fmt.Fprintf(b, `<text x="16" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", y+18, esc(p.Title))
	fmt.Fprintf(b, `<text x="16" y="%d" fill="#555555" font-size="12">%s</text>`+"\n", y+34, esc(p.Note))
	top := y + 44
	scale := func(v float64) float64 {
		if p.Max <= 0 {
			return 0
		}
		return v / p.Max * plotWidth
	}
	for i, br := range p.Bars {
		by := top + i*(barHeight+barGap)
		fill := "#2b6cb0"
		if br.Muted {
			fill = "#b0b0b0"
		}
		w := max(scale(br.Value), 2)
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-8, by+barHeight-6, esc(br.Label))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelWidth, by, w, barHeight, fill)
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(labelWidth)+w+6, by+barHeight-6, esc(br.Text))
	}
	bottom := top + len(p.Bars)*(barHeight+barGap) - barGap
	if p.Target > 0 {
		x := float64(labelWidth) + scale(p.Target)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c53030" stroke-width="2" stroke-dasharray="5,3"/>`+"\n", x, top-4, x, bottom+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="#c53030" font-size="11">target %s</text>`+"\n", x+4, bottom+16, esc(num(p.Target)))
	}
	return bottom + 30
}

func esc(s string) string { return html.EscapeString(s) }
