package uribl

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// tcase is one input and the results expected, each as "source host" or
// "source ip", in order.
type tcase struct {
	name string
	in   string
	want []string
}

func render(fs []Found) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		if f.IP.IsValid() {
			out[i] = f.Source + " " + f.IP.String()
		} else {
			out[i] = f.Source + " " + f.Host
		}
	}
	return out
}

func runCases(t *testing.T, html bool, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{HTML: html}
			fs := Extract([]byte(c.in), o)
			checkValid(t, fs, o)
			if got := render(fs); !slices.Equal(got, c.want) {
				t.Errorf("Extract(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

var textURLCases = []tcase{
	{"http and https", "see http://example.com/x and https://secure.example.org.", []string{"text example.com", "text secure.example.org"}},
	{"ftp", "ftp://files.example.net/pub/file.tgz", []string{"text files.example.net"}},
	{"www with path", "go to www.example.com/x now", []string{"text www.example.com"}},
	{"www upper case", "WWW.EXAMPLE.COM", []string{"text www.example.com"}},
	{"www unknown tld", "www.example.notatld and www.file.txt", nil},
	{"bare com", "visit example.com today", []string{"bare example.com"}},
	{"bare jp and co.jp", "example.co.jp and example.jp, example.net", []string{"bare example.co.jp", "bare example.jp", "bare example.net"}},
	{"not domains", "file.txt e.g. i.e. 1.2.3 v2.0 a.m. U.S. Node.js 3.14", nil},
	{"sentence without space", "That is all.The end. See you.Next", nil},
	{"public suffix alone", "co.jp and blogspot.com", nil},
	{"parentheses", "(http://example.com) (see example.net)", []string{"text example.com", "bare example.net"}},
	{"angle brackets", "<http://example.com/> <example.net>", []string{"text example.com", "bare example.net"}},
	{"trailing punctuation", "http://a.example! http://b.example? http://c.example; http://d.example: http://e.example]} 'http://f.example' \"http://g.example\"", []string{"text a.example", "text b.example", "text c.example", "text d.example", "text e.example", "text f.example", "text g.example"}},
	{"bare trailing punctuation", "example.com. example.net, example.org; example.info: example.jp! example.de?", []string{"bare example.com", "bare example.net", "bare example.org", "bare example.info", "bare example.jp", "bare example.de"}},
	{"full-width punctuation", "「http://example.jp/」（example.co.jp）example.net。example.org、", []string{"text example.jp", "bare example.co.jp", "bare example.net", "bare example.org"}},
	{"japanese text around URL", "詳しくはhttp://example.com/へ。お問い合わせはexample.jpまで", []string{"text example.com", "bare example.jp"}},
	{"japanese right after host", "http://example.comへアクセス", []string{"text example.com"}},
	{"no slashes is prose", "Note:example.com http:example.net", []string{"bare example.com", "bare example.net"}},
	{"path is not bare", "http://example.com/download/file.com/x.net", []string{"text example.com"}},
	{"identifiers", "foo_bar.com /path/x.com %2Fy.com", nil},
	{"query after bare", "example.com/?next=evil.com", []string{"bare example.com", "bare evil.com"}},
	{"scheme glued to a word", "Visit:http://example.com foohttp://example.net", []string{"text example.com", "text example.net"}},
	{"ellipsis before", "...example.com", []string{"bare example.com"}},
}

func TestTextURLs(t *testing.T) { runCases(t, false, textURLCases) }

var obfuscationCases = []tcase{
	{"hxxp", "hxxp://evil.example/x", []string{"text evil.example"}},
	{"hxxps upper", "HXXPS://EVIL.EXAMPLE/", []string{"text evil.example"}},
	{"h**p", "h**p://evil.example/ h**ps://evil2.example/", []string{"text evil.example", "text evil2.example"}},
	{"bracket dot", "evil[.]com", []string{"bare evil.com"}},
	{"paren dot", "evil(.)com", []string{"bare evil.com"}},
	{"brace dot", "evil{.}com", []string{"bare evil.com"}},
	{"bracket word dot", "evil[dot]com and evil2(DOT)com", []string{"bare evil.com", "bare evil2.com"}},
	{"defanged colon", "hxxp[:]//evil[.]com/login", []string{"text evil.com"}},
	{"spaced bracket dot", "evil [.] com and evil2 (dot) net", []string{"bare evil.com", "bare evil2.net"}},
	{"dot word in URL", "hxxp://evil dot com/login", []string{"text evil.com"}},
	{"dot word after www", "www dot evil dot com", []string{"text www.evil.com"}},
	{"dot word in prose", "connect the dot to the line, evil dot com", nil},
	{"full-width name", "ｅｘａｍｐｌｅ．ｃｏｍ", []string{"bare example.com"}},
	{"full-width URL", "ｈｔｔｐ：／／ｅｖｉｌ．ｅｘａｍｐｌｅ／ｘ", []string{"text evil.example"}},
	{"zero-width space", "exa\u200bmple.com", []string{"bare example.com"}},
	{"zero-width joiners in URL", "http://ev\u200cil\u200d.example/", []string{"text evil.example"}},
	{"byte order mark", "\ufeffexample.com", []string{"bare example.com"}},
	{"soft hyphen", "exam\u00adple.com", []string{"bare example.com"}},
}

func TestObfuscation(t *testing.T) { runCases(t, false, obfuscationCases) }

var trickCases = []tcase{
	{"userinfo", "http://paypal.com@evil.example/", []string{"text evil.example"}},
	{"user and password", "http://user:pass@host.example:8080/", []string{"text host.example"}},
	{"last at sign wins", "http://a@b.example@evil.example/", []string{"text evil.example"}},
	{"percent-encoded host", "http://%65vil.example/", []string{"text evil.example"}},
	{"percent-encoded dot", "http://evil%2Eexample/", []string{"text evil.example"}},
	{"bad percent escape", "http://evil%zz.example/", nil},
	{"backslashes", `http:\\evil.example\path`, []string{"text evil.example"}},
	{"mixed slashes", `http:/\/evil.example/ http:///evil2.example`, []string{"text evil.example", "text evil2.example"}},
	{"upper-case host", "HTTP://EXAMPLE.COM/", []string{"text example.com"}},
	{"trailing dots", "http://example.com./ http://example.net../", []string{"text example.com", "text example.net"}},
	{"port", "http://example.com:8080/", []string{"text example.com"}},
	{"IDN", "http://例え.jp/", []string{"text xn--r8jz45g.jp"}},
	{"IDN full-width dot", "http://例え．jp/", []string{"text xn--r8jz45g.jp"}},
	{"punycode", "http://xn--r8jz45g.jp/ HTTP://XN--R8JZ45G.JP/", []string{"text xn--r8jz45g.jp"}},
	{"IDN german", "https://bücher.example/", []string{"text xn--bcher-kva.example"}},
	{"underscore", "http://foo_bar.example/", []string{"text foo_bar.example"}},
	{"single label", "http://localhost/ http://exa mple.com", []string{"bare mple.com"}},
	{"doubled scheme", "http://http://evil.example/", []string{"text evil.example"}},
	{"redirect in query", "http://r.example/?u=http://evil.example/x", []string{"text r.example", "text evil.example"}},
	{"encoded redirect", "http://r.example/?u=http%3A%2F%2Fevil.example%2Fx&v=1", []string{"text r.example", "text evil.example"}},
	{"invalid characters", "http://ex*ample.com/ http://exa!mple.com/", nil},
	{"empty host", "http:// http:///", nil},
	{"www without host", "go to www.examp\x00@/com/x now www.@example.com", []string{"text example.com"}},
	{"long label", "http://" + strings.Repeat("a", 64) + ".example/", nil},
}

func TestURLTricks(t *testing.T) { runCases(t, false, trickCases) }

var ipCases = []tcase{
	{"dotted", "http://192.0.2.1/", []string{"text 192.0.2.1"}},
	{"ipv6", "http://[2001:db8::1]/", []string{"text 2001:db8::1"}},
	{"ipv6 port", "http://[2001:db8::2]:8080/x", []string{"text 2001:db8::2"}},
	{"ipv6 userinfo", "http://user@[2001:db8::3]/", []string{"text 2001:db8::3"}},
	{"ipv4-mapped", "http://[::ffff:192.0.2.9]/", []string{"text 192.0.2.9"}},
	{"decimal integer", "http://3221225985/", []string{"text 192.0.2.1"}},
	{"hex", "http://0xC0000201/", []string{"text 192.0.2.1"}},
	{"octal octets", "http://0300.0000.0002.0001/", []string{"text 192.0.2.1"}},
	{"mixed octets", "http://0xc0.0.02.1/", []string{"text 192.0.2.1"}},
	{"shortened", "http://192.0.513/", []string{"text 192.0.2.1"}},
	{"two parts", "http://192.131585/", []string{"text 192.2.2.1"}},
	{"private and loopback kept", "http://127.0.0.1/ http://10.0.0.1/", []string{"text 127.0.0.1", "text 10.0.0.1"}},
	{"percent-encoded ip", "http://%31%39%32.0.2.1/", []string{"text 192.0.2.1"}},
	{"too many parts", "http://1.2.3.4.5/", nil},
	{"octet too large", "http://256.1.1.1/", nil},
	{"number too large", "http://4294967296/", nil},
	{"name ending in a number", "http://example.123/", nil},
	{"bad octal", "http://09.1.1.1/", nil},
	{"ipv4 in brackets", "http://[192.0.2.1]/", nil},
	{"bare with path", "see 192.0.2.7/login", []string{"bare 192.0.2.7"}},
	{"bare without path", "version 1.2.3.4 released, server 192.0.2.8", nil},
}

func TestIPLiterals(t *testing.T) { runCases(t, false, ipCases) }

var emailCases = []tcase{
	{"address", "contact someone@example.com today", []string{"email example.com"}},
	{"subdomain and plus", "user.name+tag@sub.example.co.uk", []string{"email sub.example.co.uk"}},
	{"in angle brackets", "Foo <foo@example.org>", []string{"email example.org"}},
	{"mailto in text", "write to mailto:user@example.org?subject=hi", []string{"mailto example.org"}},
	{"mailto several", "mailto:a@one.example,b@two.example?cc=c@three.example", []string{"mailto one.example", "mailto two.example", "mailto three.example"}},
	{"japanese after address", "info@example.jpまで", []string{"email example.jp"}},
	{"not addresses", "@handle a@b user@localhost x@file.txt @example.com", nil},
	{"ip literal domain", "user@[192.0.2.1]", nil},
	{"domain and address", "example.com@evil.com", []string{"email evil.com"}},
}

func TestEmail(t *testing.T) { runCases(t, false, emailCases) }

var htmlCases = []tcase{
	{"a href", `<a href="http://example.com/">x</a>`, []string{"href example.com"}},
	{"area link base", `<base href="http://base.example/"><link rel=stylesheet href="http://css.example/s.css"><map><area href="http://area.example/"></map>`, []string{"href base.example", "href css.example", "href area.example"}},
	{"src", `<img src="http://img.example/a.png"><iframe src="http://frame.example/"></iframe><script src="http://js.example/a.js"></script><frame src="http://f.example/"><embed src="http://embed.example/x">`, []string{"src img.example", "src frame.example", "src js.example", "src f.example", "src embed.example"}},
	{"form action", `<form action="http://evil.example/post" method=post><button formaction="https://evil2.example/">go</button></form>`, []string{"form evil.example", "form evil2.example"}},
	{"background", `<table background="http://bg.example/i.png"><tr><td background='http://bg2.example/'>`, []string{"src bg.example", "src bg2.example"}},
	{"meta refresh", `<meta http-equiv="refresh" content="0; url=http://redir.example/">`, []string{"href redir.example"}},
	{"meta refresh quoted", `<META HTTP-EQUIV="Refresh" CONTENT="5;URL='http://redir.example/x'">`, []string{"href redir.example"}},
	{"meta other", `<meta name="description" content="http://not.example/">`, nil},
	{"visible text", `<p>Visit example.com or http://text.example/</p>`, []string{"bare example.com", "text text.example"}},
	{"entities in text", `<p>&#x68;ttp://evil.example/ and evil2&#46;com</p>`, []string{"text evil.example", "bare evil2.com"}},
	{"entities in href", `<a href="&#x68;ttp&#58;//evil.example/">x</a>`, []string{"href evil.example"}},
	{"whitespace in href", "<a href=\"  http://exa\nmple.com/\t \">x</a>", []string{"href example.com"}},
	{"upper-case tags", `<A HREF="HTTP://UPPER.EXAMPLE/">x</A>`, []string{"href upper.example"}},
	{"mailto", `<a href="mailto:user@example.com?subject=hi">mail</a>`, []string{"mailto example.com"}},
	{"mailto encoded", `<a href="mailto:user%40example.net">mail</a>`, []string{"mailto example.net"}},
	{"ignored schemes", `<img src="data:image/png;base64,ZXZpbC5jb20="><img src="cid:part1@evil.com"><a href="javascript:void(0)">x</a><a href="tel:+81312345678">t</a>`, nil},
	{"javascript with URL", `<a href="javascript:location='http://evil.example/'">x</a>`, []string{"text evil.example"}},
	{"script content", `<script>var a = "http://evil.example/"; element.style.color = "red"; x.com = 1</script>`, []string{"text evil.example"}},
	{"style content", `<style>body{background:url(http://bg.example/x.png)} a.link{color:red}</style>`, []string{"src bg.example"}},
	{"style attribute", `<div style="background-image:url('http://bg.example/x.png')">x</div>`, []string{"src bg.example"}},
	{"conditional comment", `<!--[if mso]><v:roundrect href="http://mso.example/"><center>example.com</center></v:roundrect><![endif]-->`, []string{"href mso.example"}},
	{"comment text", `<!-- built with example.com, see http://c.example/ -->`, []string{"text c.example"}},
	{"split by inline tags", `<p>exa<span></span>mple.<b>com</b></p>`, []string{"bare example.com"}},
	{"split by block tags", `<p>example</p><p>.com</p><div>evil</div>.com`, nil},
	{"noscript", `<noscript><a href="http://ns.example/">x</a></noscript>`, []string{"href ns.example"}},
	{"relative ignored", `<a href="/path">a</a><a href="page.html">b</a><a href="#top">c</a>`, nil},
	{"single label", `<a href="http://intranet/">x</a>`, []string{"href intranet"}},
	{"scheme-relative", `<img src="//cdn.example/x.png"><img src="\\cdn2.example/x.png">`, []string{"src cdn.example", "src cdn2.example"}},
	{"www without scheme", `<a href="www.example.com/x">x</a><a href="www.example.notatld">y</a>`, []string{"href www.example.com"}},
	{"srcset", `<img srcset="http://a.example/1.png 1x, http://b.example/2.png 2x">`, []string{"src a.example", "src b.example"}},
	{"document order", `<p>first.com</p><a href="http://second.example/">third.com</a>`, []string{"bare first.com", "href second.example", "bare third.com"}},
	{"redirect in href", `<a href="http://r.example/?u=http://evil.example/">x</a>`, []string{"href r.example", "href evil.example"}},
	{"text and href same host", `<a href="https://example.com/">https://example.com/</a>`, []string{"href example.com"}},
	{"IDN href", `<p>詳しくは<a href="http://例え.jp/">こちら</a></p>`, []string{"href xn--r8jz45g.jp"}},
	{"userinfo href", `<a href="http://paypal.com@evil.example/">paypal.com</a>`, []string{"href evil.example", "bare paypal.com"}},
	{"zero-width entity", `<p>exa&#8203;mple.com</p>`, []string{"bare example.com"}},
	{"title and textarea", `<title>example.com</title><textarea>http://ta.example/</textarea>`, []string{"bare example.com", "text ta.example"}},
	{"object data", `<object data="http://obj.example/x.swf"></object><div data="http://no.example/">`, []string{"src obj.example"}},
	{"xlink href", `<svg><a xlink:href="http://svg.example/">x</a></svg>`, []string{"href svg.example"}},
	{"broken html", `<a href="http://broken.example/`, nil},
	{"unclosed attribute then text", `<a href=http://unquoted.example/>x</a>`, []string{"href unquoted.example"}},
}

func TestHTML(t *testing.T) { runCases(t, true, htmlCases) }

func TestDomain(t *testing.T) {
	cases := []struct{ in, host, domain string }{
		{"http://www.example.co.jp/", "www.example.co.jp", "example.co.jp"},
		{"http://a.b.example.com/", "a.b.example.com", "example.com"},
		{"http://foo.blogspot.com/", "foo.blogspot.com", "foo.blogspot.com"},
		{`<a href="http://localhost/">`, "localhost", ""},
		{"http://co.jp/", "co.jp", ""},
		{"http://例え.jp/", "xn--r8jz45g.jp", "xn--r8jz45g.jp"},
		{"http://192.0.2.1/", "", ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			fs := Extract([]byte(c.in), Options{HTML: true})
			if len(fs) != 1 || fs[0].Host != c.host || fs[0].Domain != c.domain {
				t.Errorf("Extract(%q) = %+v, want host %q domain %q", c.in, fs, c.host, c.domain)
			}
		})
	}
}

func TestMaxHosts(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "http://h%d.example/ h%d.example.com ", i, i)
	}
	cases := []struct{ max, want int }{{0, DefaultMaxHosts}, {-1, DefaultMaxHosts}, {1, 1}, {7, 7}, {1000, 600}}
	for _, c := range cases {
		for _, html := range []bool{false, true} {
			t.Run(fmt.Sprintf("max=%d/html=%v", c.max, html), func(t *testing.T) {
				o := Options{MaxHosts: c.max, HTML: html}
				fs := Extract([]byte(b.String()), o)
				if len(fs) != c.want {
					t.Fatalf("got %d results, want %d", len(fs), c.want)
				}
				if fs[0].Host != "h0.example" || c.want > 1 && fs[1].Host != "h0.example.com" {
					t.Errorf("not in order of appearance: %q", render(fs[:min(2, len(fs))]))
				}
				checkValid(t, fs, o)
			})
		}
	}
}

func TestDistinct(t *testing.T) {
	in := "http://Example.com/ example.com EXAMPLE.COM. someone@example.com http://example.com:80/ http://192.0.2.1/ http://3221225985/"
	got := render(Extract([]byte(in), Options{}))
	want := []string{"text example.com", "text 192.0.2.1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLarge checks that large and pathological inputs finish in about the
// time of ordinary ones (a quadratic case takes minutes at 1 MB) and still
// find what follows them; BenchmarkExtract measures the speed.
func TestLarge(t *testing.T) {
	for name, p := range pathological(1 << 20) {
		t.Run(name, func(t *testing.T) {
			o := Options{HTML: p.html}
			in := append(bytes.Clone(p.in), " <p>http://after.example/</p>"...)
			start := time.Now()
			fs := Extract(in, o)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v for %d bytes", d, len(in))
			}
			checkValid(t, fs, o)
			if len(fs) == 0 || fs[len(fs)-1].Host != "after.example" {
				t.Errorf("got %q, want after.example last", render(fs))
			}
		})
	}
}

type input struct {
	in   []byte
	html bool
}

// pathological returns inputs of about n bytes meant to make a scanner
// slow: long names, and long runs of what starts a URL, a name, an
// address, a tag or a comment.
func pathological(n int) map[string]input {
	rep := func(s string) []byte { return bytes.Repeat([]byte(s), n/len(s)) }
	text := func(b []byte) input { return input{b, false} }
	html := func(b []byte) input { return input{b, true} }
	return map[string]input{
		"dots":          text(rep("a.")),
		"schemes":       text(rep("http://")),
		"www":           text(rep("www.")),
		"at signs":      text(rep("a@")),
		"colons":        text(rep("http:")),
		"dot words":     text(rep("www dot ")),
		"defanged dots": text(rep("a[.]")),
		"percent":       text(rep("http%3A%2F%2F")),
		"full-width":    text(rep("ａ．")),
		"zero-width":    text(rep("a\u200b.")),
		"long host":     text(append([]byte("http://"), rep("a")...)),
		"mailto":        text(append([]byte("mailto:"), rep("a@b.")...)),
		"inline tags":   html(rep("<b>a.</b>")),
		"comments":      html(append(rep("<!--"), "-->"...)),
		"entities":      html(rep("&#x68;ttp://")),
		"attributes":    html(append([]byte("<a "), rep(`href="http://a.example/" `)...)),
		"block tags":    html(rep("<p>a.")),
	}
}

// japanese returns about n bytes of Japanese mail text: no spaces between
// words, full-width punctuation and digits, a URL in every paragraph.
func japanese(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "いつもご利用いただきありがとうございます。%d月のキャンペーンのお知らせです。詳しくはhttps://www.shop%d.example.co.jp/campaign/をご覧ください。お問い合わせはsupport@shop.example.co.jpまで、（平日１０：００〜１８：００）。\n", i%12+1, i%50)
	}
	return b.Bytes()
}

// newsletter returns about n bytes of HTML like a marketing mail: tables,
// inline styles, tracking links and images, 200 of them in all.
func newsletter(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;font-family:Arial,sans-serif}.btn{background:#06c;color:#fff}</style></head><body><table width="100%" cellpadding="0" cellspacing="0">`)
	links := 0
	for i := 0; b.Len() < n; i++ {
		if links < 200 {
			fmt.Fprintf(&b, `<tr><td style="padding:12px 24px"><a href="https://click.news%d.example.com/ls/click?upn=%x&amp;u=%d" style="color:#06c;text-decoration:none"><img src="https://img.news%d.example.com/p/%d.jpg" width="560" alt="Spring sale" border="0"></a></td></tr>`, i%40, i*7919, i, i%40, i)
			links += 2
		}
		fmt.Fprintf(&b, `<tr><td class="txt" style="font-size:14px;line-height:20px;color:#333">Dear customer, our spring collection is here. Order before %d April and shipping is free. Questions? Write to support@shop.example.com or call us. Unsubscribe at any time from your account settings. Item %d, price 12.50 EUR, version 2.1.%d.</td></tr>`, i%30+1, i, i)
	}
	b.WriteString(`</table></body></html>`)
	return b.Bytes()
}

// BenchmarkExtract reports throughput on a 1 MB HTML newsletter with 200
// links, and on 1 MB pathological inputs read as plain text.
//
//	go test -run '^$' -bench . ./reputation/uribl/
func BenchmarkExtract(b *testing.B) {
	bench := func(name string, in []byte, o Options) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				Extract(in, o)
			}
		})
	}
	nl := newsletter(1 << 20)
	bench("newsletter-html", nl, Options{HTML: true, MaxHosts: 1000})
	bench("newsletter-as-text", nl, Options{MaxHosts: 1000})
	bench("japanese-text", japanese(1<<20), Options{MaxHosts: 1000})
	p := pathological(1 << 20)
	for _, name := range []string{"dots", "schemes", "www", "at signs", "dot words", "defanged dots", "full-width", "long host", "inline tags", "comments"} {
		bench("pathological-"+strings.ReplaceAll(name, " ", "-"), p[name].in, Options{HTML: p[name].html})
	}
}
