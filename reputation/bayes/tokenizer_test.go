package bayes

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

var update = flag.Bool("update", false, "rewrite the golden token files in testdata")

// TestTokenizeGolden compares the tokens of each fixture with its golden
// file (testdata/NAME.tokens, one token a line); -update rewrites them.
func TestTokenizeGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			toks := tokenize(t, &Tokenizer{}, fixture(t, name))
			if !slices.IsSorted(toks) || len(slices.Compact(slices.Clone(toks))) != len(toks) {
				t.Errorf("tokens not sorted and distinct: %q", toks)
			}
			got := strings.Join(toks, "\n") + "\n"
			golden := strings.TrimSuffix(f, ".eml") + ".tokens"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("tokens differ from %s (run with -update after checking):\n%s", golden, diffLines(string(want), got))
			}
		})
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "-%s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+%s\n", l)
		}
	}
	return b.String()
}

// TestTokenizeFixtures states what the token scheme promises for each
// fixture: tokens that must be there and tokens that must not.
func TestTokenizeFixtures(t *testing.T) {
	for _, tc := range []struct {
		file      string
		want, not []string
	}{
		{
			file: "ham.eml",
			want: []string{"h:from:d:example.org", "h:from:h:lists.example.org", "h:from:n:alice", "h:from:n:liddell",
				"h:mailer:mutt", "h:rcpt:2", "h:received:2", "s:patch", "s:parser", "s:mbox", "u:d:example.org",
				"u:h:bugs.example.org", "m:text-only", "m:img:0", "m:hosts:1", "m:cs:us-ascii", "readline", "n:4", "n:7-9", "n:3", "eof"},
			// Two-letter words, "Re", and the list tag's brackets.
			not: []string{"re", "s:re", "[dev]", "h:reply-to:same", "h:to:none", "h:msgid:none"},
		},
		{
			file: "spam.eml",
			want: []string{"s:caps", "s:lowest", "s:n:2", "h:reply-to:other", "h:reply-to:d:example.net", "h:reply-to:h:fastmeds.example.net",
				"h:from:n:pharmacy", "h:mailer:microsoft-outlook", "m:html+text", "m:img:2", "m:hosts:4-9", "u:ip",
				"u:h:www.fastmeds.example.net", "u:d:example.net", "u:d:bestdeals.example",
				"medications", // "me<span></span>dications" renders as one word
				"n:$4", "café", "straße"},
			// Script, style and comment content is not visible text.
			not: []string{"hidden", "hashbuster", "qwzxv", "display", "none", "write"},
		},
		{
			file: "japanese.eml",
			want: []string{"s:会議", "s:資料", "s:cs:iso-2022-jp", "h:from:n:山田", "h:from:n:太郎", "h:from:d:example.co.jp",
				"h:mailer:thunderbird", "会議", "資料", "お疲", "疲れ",
				"カタ", "タカ", "カナ", // half-width ｶﾀｶﾅ, NFKC-normalised
				"m:cs:iso-2022-jp", "u:h:intra.example.co.jp", "u:d:example.co.jp", "m:text-only"},
			// Punctuation ends a CJK run: no bigram spans "す。".
			not: []string{"す。", "。明"},
		},
		{
			file: "shiftjis-html.eml",
			want: []string{"無料", "登録", "クリ", "s:当選", "s:cs:shift_jis", "m:cs:shift_jis", "m:html-only", "m:img:1",
				"h:rcpt:0", "h:mailer:none", "u:h:click.spam.example", "u:d:spam.example", "h:from:h:shop.spam.example"},
			not: []string{"invisible", "color"},
		},
		{
			file: "attachment.eml",
			want: []string{"m:att:application/pdf", "m:ext:pdf", "m:att:image/png", "m:img:1", "h:from:noname", "h:rcpt:3-5",
				"fullwidth", "grüße", "münchen", "s:invoice", "n:2", "m:cs:utf-8", "s:n:7-9"},
			not: []string{"jvberi0xljqkjcokw7zdtsofcjigmcbvymokpdwvtgvuz3roidmgmcbspj4kc3ryzwftcg"},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			toks := tokenize(t, &Tokenizer{}, fixture(t, tc.file))
			for _, w := range tc.want {
				if !slices.Contains(toks, w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(toks, n) {
					t.Errorf("unexpected %q", n)
				}
			}
		})
	}
}

// wordTokens runs the word scanner alone.
func wordTokens(prefix, text string) []string {
	tz := &tokenizing{set: map[string]struct{}{}, limit: 1000}
	tz.words(prefix, []byte(text), -1)
	out := make([]string, 0, len(tz.set))
	for k := range tz.set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"Hello, WORLD! a an the", []string{"hello", "the", "world"}},
		{"don't -dash- e-mail 'quoted'", []string{"dash", "don't", "e-mail", "quoted"}},
		{"7 42 2002 $19.95 1,000,000 555-1234 2025-03-10", []string{"n:$4", "n:1", "n:2", "n:4", "n:7-9"}},
		{"abc123 x86_64", []string{"abc123", "n:2", "x86"}},
		{strings.Repeat("a", 40) + " " + strings.Repeat("b", 41) + " " + strings.Repeat("c", 500),
			[]string{strings.Repeat("a", 40), "long:100", "long:40"}},
		// Full-width letters and digits are NFKC-normalised.
		{"ＦＲＥＥ　１２３", []string{"free", "n:3"}},
		// CJK: overlapping bigrams; a lone character counts alone.
		{"会議資料", []string{"会議", "議資", "資料"}},
		{"東京 と 大阪", []string{"と", "大阪", "東京"}},
		{"カタカナー", []string{"カタ", "カナ", "タカ", "ナー"}},
		{"한국어 메일", []string{"국어", "메일", "한국"}},
		{"mixed日本text", []string{"mixed", "text", "日本"}},
		{"Ünïcödé ΕΛΛΗΝΙΚΆ кириллица", []string{"ünïcödé", "ελληνικά", "кириллица"}},
		{"\xff\xfeinvalid\xc3 bytes", []string{"bytes", "invalid"}},
	} {
		if got := wordTokens("", tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("words(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if got := wordTokens("s:", "Big 100 Sale"); !slices.Equal(got, []string{"s:big", "s:n:3", "s:sale"}) {
		t.Errorf("prefixed words: %q", got)
	}
}

func TestBucket(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0"}, {1, "1"}, {2, "2"}, {3, "3-5"}, {5, "3-5"}, {6, "6-10"}, {10, "6-10"}, {11, "11+"}, {1000, "11+"}} {
		if got := bucket(tc.n, 0, 1, 2, 3, 6, 11); got != tc.want {
			t.Errorf("bucket(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := bucket(0, 1, 2); got != "<1" {
		t.Errorf("bucket below the first bound: %q", got)
	}
}

func TestSplitAddress(t *testing.T) {
	for _, tc := range []struct{ in, name, addr, domain string }{
		{`"Alice L." <alice@Example.ORG>`, "Alice L.", "alice@Example.ORG", "example.org"},
		{`alice@example.org (Alice)`, "Alice", "alice@example.org", "example.org"},
		{`alice@example.org`, "", "alice@example.org", "example.org"},
		{`Bad <alice@exa mple.org>`, "Bad", "alice@exa mple.org", ""},
		{`<>`, "", "", ""},
		{`"a@b" <x@[192.0.2.1]>`, "a@b", "x@[192.0.2.1]", "192.0.2.1"},
	} {
		name, addr := splitAddress(tc.in)
		if name != tc.name || addr != tc.addr || addrDomain(addr) != tc.domain {
			t.Errorf("splitAddress(%q) = %q, %q (domain %q)", tc.in, name, addr, addrDomain(addr))
		}
	}
}

// TestTokenizeCharsets covers Japanese mail as it is really sent: no
// charset label, and raw 8-bit headers.
func TestTokenizeCharsets(t *testing.T) {
	jis, _ := japanese.ISO2022JP.NewEncoder().String("迷惑メールです")
	sjis, _ := japanese.ShiftJIS.NewEncoder().String("件名の文字")
	euc, _ := japanese.EUCJP.NewEncoder().String("本文の文字")
	for _, tc := range []struct {
		name string
		raw  string
		want []string
	}{
		{"ISO-2022-JP without charset", "Subject: x\r\n\r\n" + jis + "\r\n", []string{"迷惑", "メー", "です"}},
		{"raw Shift_JIS subject guessed from the body charset",
			"Subject: " + sjis + "\r\nContent-Type: text/plain; charset=Shift_JIS\r\n\r\nbody\r\n", []string{"s:件名", "s:の文", "s:文字"}},
		{"EUC-JP body", "Content-Type: text/plain; charset=euc-jp\r\n\r\n" + euc + "\r\n", []string{"本文", "の文", "文字", "m:cs:euc-jp"}},
		{"RFC 2047 in a From name", "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>\r\n\r\nx\r\n",
			[]string{"h:from:n:jürgen", "h:from:n:müller", "h:from:d:example.de"}},
		{"unknown charset label", "Content-Type: text/plain; charset=x-klingon\r\n\r\nplain words\r\n", []string{"plain", "words"}},
		{"Latin-1 bytes without a label", "\r\n\xc9t\xe9 caf\xe9\r\n", []string{"été", "café"}},
		{"a named text part shown inline", "Content-Type: text/plain\r\nContent-Disposition: inline; filename=notes.txt\r\n\r\nvisible words\r\n",
			[]string{"visible", "words", "m:ext:txt", "m:text-only"}},
		{"headers only", "Subject: hello there\r\n", []string{"s:hello", "s:there", "m:no-text", "h:to:none", "h:from:none", "h:msgid:none", "h:received:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks := tokenize(t, &Tokenizer{}, []byte(tc.raw))
			for _, w := range tc.want {
				if !slices.Contains(toks, w) {
					t.Errorf("missing %q in %q", w, toks)
				}
			}
		})
	}
}

// TestTokenizeLimits checks that MaxTokens and MaxTextBytes bound the
// output, and that header and meta tokens survive the cut.
func TestTokenizeLimits(t *testing.T) {
	var body strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&body, "word%dx ", i)
	}
	raw := []byte("From: a@example.com\r\nSubject: limits\r\n\r\n" + body.String() + "\r\nlateword\r\n")

	toks := tokenize(t, &Tokenizer{}, raw)
	if len(toks) > DefaultMaxTokens {
		t.Errorf("%d tokens, more than %d", len(toks), DefaultMaxTokens)
	}
	toks = tokenize(t, &Tokenizer{MaxTokens: 100}, raw)
	if len(toks) > 100 {
		t.Errorf("%d tokens with MaxTokens 100", len(toks))
	}
	for _, w := range []string{"s:limits", "h:from:d:example.com", "m:text-only", "m:img:0", "m:hosts:0"} {
		if !slices.Contains(toks, w) {
			t.Errorf("MaxTokens 100: %q dropped", w)
		}
	}
	// The text budget: "lateword" lies past the first 4 KiB.
	toks = tokenize(t, &Tokenizer{MaxTextBytes: 4096, MaxTokens: 100000}, raw)
	if slices.Contains(toks, "lateword") || !slices.Contains(toks, "word1x") {
		t.Errorf("MaxTextBytes 4096: lateword %v, word1x %v", slices.Contains(toks, "lateword"), slices.Contains(toks, "word1x"))
	}
	toks = tokenize(t, &Tokenizer{MaxTokens: 100000, MaxTextBytes: 1 << 20}, raw)
	if !slices.Contains(toks, "lateword") {
		t.Error("lateword missing with room for it")
	}
}

// TestTokenizeDeterministic tokenizes the same message twice, through
// separate walks.
func TestTokenizeDeterministic(t *testing.T) {
	raw := fixture(t, "spam.eml")
	a := tokenize(t, &Tokenizer{}, raw)
	b := tokenize(t, &Tokenizer{}, raw)
	if !slices.Equal(a, b) {
		t.Errorf("two runs differ:\n%q\n%q", a, b)
	}
}

// TestTokenizeCancelled checks that a cancelled context stops the work.
func TestTokenizeCancelled(t *testing.T) {
	m := parseMessage(t, fixture(t, "spam.eml"))
	defer release(m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Tokenizer{}).Tokenize(ctx, m); err == nil {
		t.Error("no error with a cancelled context")
	}
}

// TestHeaderTokenCaps: the Subject and From-name caps hold for any text,
// multibyte included (they were checked on a byte stride that multibyte
// text could step over).
func TestHeaderTokenCaps(t *testing.T) {
	var words []string
	for a := 'a'; a <= 'z'; a++ {
		for b := 'a'; b <= 'z'; b++ {
			words = append(words, "é"+string(a)+string(b))
		}
	}
	long := strings.Join(words, " ")[:2000]
	raw := "From: " + long + " <x@example.net>\r\nSubject: " + long + "\r\nMessage-ID: <1@example.net>\r\n\r\nbody\r\n"
	toks := tokenize(t, &Tokenizer{}, []byte(raw))
	var subj, name int
	for _, tk := range toks {
		switch {
		case strings.HasPrefix(tk, "s:") && !strings.HasPrefix(tk, "s:cs:"):
			subj++
		case strings.HasPrefix(tk, "h:from:n:"):
			name++
		}
	}
	if subj > maxHeaderTokens || name > maxHeaderTokens/4 {
		t.Errorf("%d subject tokens (cap %d), %d From-name tokens (cap %d)", subj, maxHeaderTokens, name, maxHeaderTokens/4)
	}
	if subj < maxHeaderTokens/2 {
		t.Errorf("only %d subject tokens", subj)
	}
}
