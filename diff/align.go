package diff

// The alignment of two step sequences: a global alignment (Needleman–Wunsch
// scoring) in linear space. Identical steps are locked first: the common
// prefix and suffix, then steps whose content occurs exactly once on each
// side (in increasing order on both, as patience diff does). Only the gaps
// between those anchors are aligned by score, with Hirschberg's
// divide-and-conquer when a gap is too large for a table, so memory stays
// linear in the runs whatever they hold.

// Op is how two aligned steps relate.
type Op string

// Alignment ops.
const (
	OpEqual    Op = "equal"    // the same content
	OpChanged  Op = "changed"  // the same kind of step at the same place, content differs
	OpDeleted  Op = "deleted"  // only in A
	OpInserted Op = "inserted" // only in B
)

// key is what the aligner knows of a step: small integers, compared fast.
type key struct {
	content int // identical content ⇔ equal
	sig     int // kind, tool name, argument shape
	name    int // kind and tool name
	kind    int
}

// pair is one aligned position; -1 on the side that has no step.
type pair struct{ a, b int }

// score of aligning two steps; a gap scores 0.
func score(x, y key) int {
	switch {
	case x.content == y.content:
		return 8
	case x.sig == y.sig:
		return 5
	case x.name == y.name:
		return 4
	case x.kind == y.kind:
		return 1
	}
	return -1 // never pair steps of different kinds
}

// tableCells is the largest gap aligned with a full table (bytes of
// traceback: 4 MB); larger gaps are split by Hirschberg's method.
const tableCells = 1 << 22

// align returns the aligned positions of a and b in order.
func align(a, b []key) []pair {
	out := make([]pair, 0, max(len(a), len(b))+8)
	return alignRange(out, a, b, 0, 0)
}

// alignRange aligns a and b (offsets oa, ob into the whole runs).
func alignRange(out []pair, a, b []key, oa, ob int) []pair {
	// Common prefix and suffix.
	p := 0
	for p < len(a) && p < len(b) && a[p].content == b[p].content {
		out = append(out, pair{oa + p, ob + p})
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s].content == b[len(b)-1-s].content {
		s++
	}
	ma, mb := a[p:len(a)-s], b[p:len(b)-s]
	out = anchored(out, ma, mb, oa+p, ob+p)
	for i := 0; i < s; i++ {
		out = append(out, pair{oa + len(a) - s + i, ob + len(b) - s + i})
	}
	return out
}

// anchored locks the steps whose content is unique on both sides, in an
// order both runs share (longest increasing subsequence), and aligns the
// gaps between them.
func anchored(out []pair, a, b []key, oa, ob int) []pair {
	if len(a) == 0 || len(b) == 0 {
		return gapAlign(out, a, b, oa, ob)
	}
	type seen struct{ na, nb, ia, ib int }
	counts := make(map[int]*seen, len(a)+len(b))
	for i, k := range a {
		c := counts[k.content]
		if c == nil {
			c = &seen{}
			counts[k.content] = c
		}
		c.na++
		c.ia = i
	}
	for j, k := range b {
		if c := counts[k.content]; c != nil {
			c.nb++
			c.ib = j
		}
	}
	// Unique pairs in A's order, then the LIS of their B positions.
	var cand []pair
	for i, k := range a {
		if c := counts[k.content]; c.na == 1 && c.nb == 1 && c.ia == i {
			cand = append(cand, pair{i, c.ib})
		}
	}
	anchors := lis(cand)
	if len(anchors) == 0 {
		return gapAlign(out, a, b, oa, ob)
	}
	pa, pb := 0, 0
	for _, an := range anchors {
		out = alignRange(out, a[pa:an.a], b[pb:an.b], oa+pa, ob+pb)
		out = append(out, pair{oa + an.a, ob + an.b})
		pa, pb = an.a+1, an.b+1
	}
	return alignRange(out, a[pa:], b[pb:], oa+pa, ob+pb)
}

// lis returns the longest subsequence of ps (increasing in a) whose b is
// increasing too (patience sorting, n log n).
func lis(ps []pair) []pair {
	if len(ps) == 0 {
		return nil
	}
	tails := []int{} // index into ps of the smallest tail of each length
	prev := make([]int, len(ps))
	for i, p := range ps {
		lo, hi := 0, len(tails)
		for lo < hi {
			m := (lo + hi) / 2
			if ps[tails[m]].b < p.b {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo > 0 {
			prev[i] = tails[lo-1]
		} else {
			prev[i] = -1
		}
		if lo == len(tails) {
			tails = append(tails, i)
		} else {
			tails[lo] = i
		}
	}
	out := make([]pair, len(tails))
	for k, i := len(tails)-1, tails[len(tails)-1]; k >= 0; k, i = k-1, prev[i] {
		out[k] = ps[i]
	}
	return out
}

// gapAlign aligns a gap with no anchor by score.
func gapAlign(out []pair, a, b []key, oa, ob int) []pair {
	switch {
	case len(a) == 0:
		for j := range b {
			out = append(out, pair{-1, ob + j})
		}
		return out
	case len(b) == 0:
		for i := range a {
			out = append(out, pair{oa + i, -1})
		}
		return out
	case len(a)*len(b) <= tableCells:
		return table(out, a, b, oa, ob)
	}
	// Hirschberg: split A in half, find where B splits best.
	mid := len(a) / 2
	fwd := lastRow(a[:mid], b, false)
	bwd := lastRow(a[mid:], b, true)
	best, split := -1<<62, 0
	for j := 0; j <= len(b); j++ {
		if s := fwd[j] + bwd[len(b)-j]; s > best {
			best, split = s, j
		}
	}
	out = gapAlign(out, a[:mid], b[:split], oa, ob)
	return gapAlign(out, a[mid:], b[split:], oa+mid, ob+split)
}

// lastRow is the last row of the score table of a against b (both
// reversed when rev), in linear space: row[j] is the best score of a
// against b[:j] (or the last j steps of b).
func lastRow(a, b []key, rev bool) []int {
	at := func(s []key, i int) key {
		if rev {
			return s[len(s)-1-i]
		}
		return s[i]
	}
	row := make([]int, len(b)+1)
	for i := range a {
		x := at(a, i)
		diag := row[0]
		for j := 1; j <= len(b); j++ {
			up := row[j]
			best := up // a gap in B
			if row[j-1] > best {
				best = row[j-1]
			}
			if s := score(x, at(b, j-1)); s > 0 && diag+s > best {
				best = diag + s
			}
			diag = up
			row[j] = best
		}
	}
	return row
}

// table aligns a small gap with a full traceback table.
func table(out []pair, a, b []key, oa, ob int) []pair {
	n, m := len(a), len(b)
	const (
		fromDiag = 1
		fromUp   = 2 // a step of A alone
		fromLeft = 3 // a step of B alone
	)
	dir := make([]uint8, (n+1)*(m+1))
	row := make([]int, m+1)
	for j := 1; j <= m; j++ {
		dir[j] = fromLeft
	}
	for i := 1; i <= n; i++ {
		diag := row[0]
		dir[i*(m+1)] = fromUp
		for j := 1; j <= m; j++ {
			up := row[j]
			best, d := up, uint8(fromUp)
			if row[j-1] > best {
				best, d = row[j-1], fromLeft
			}
			if s := score(a[i-1], b[j-1]); s > 0 && diag+s > best {
				best, d = diag+s, fromDiag
			}
			diag = up
			row[j] = best
			dir[i*(m+1)+j] = d
		}
	}
	rev := make([]pair, 0, n+m)
	for i, j := n, m; i > 0 || j > 0; {
		switch dir[i*(m+1)+j] {
		case fromDiag:
			rev = append(rev, pair{oa + i - 1, ob + j - 1})
			i, j = i-1, j-1
		case fromUp:
			rev = append(rev, pair{oa + i - 1, -1})
			i--
		default:
			rev = append(rev, pair{-1, ob + j - 1})
			j--
		}
	}
	for k := len(rev) - 1; k >= 0; k-- {
		out = append(out, rev[k])
	}
	return out
}
