package mimepart

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// Sample prose, written for these tests, in each language the guess
// knows.
const (
	sampleJa  = "お世話になっております。弊社は電子製品の製造と販売を行っている会社です。ご興味がございましたら、お気軽にお問い合わせください。"
	sampleZhS = "我们公司是一家专业从事电子产品生产和销售的企业，拥有多年的行业经验。如果您对我们的产品感兴趣，请与我们联系。"
	sampleZhT = "我們公司是一家專業從事電子產品生產和銷售的企業，擁有多年的行業經驗。如果您對我們的產品感興趣，請與我們聯繫。"
	sampleKo  = "안녕하세요. 저희 회사는 전자 제품을 생산하고 판매하는 전문 기업입니다. 관심이 있으시면 언제든지 연락해 주시기 바랍니다."
)

func encodeWith(t *testing.T, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGuessCharset(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  encoding.Encoding
		text string
		want string
	}{
		{"shift_jis", japanese.ShiftJIS, sampleJa, "shift_jis"},
		{"euc-jp", japanese.EUCJP, sampleJa, "euc-jp"},
		{"euc-kr", korean.EUCKR, sampleKo, "euc-kr"},
		{"big5", traditionalchinese.Big5, sampleZhT, "big5"},
		{"gb2312", simplifiedchinese.GBK, sampleZhS, "gbk"},
		// Japanese in a Latin frame: a subject line and an English footer.
		{"mixed", japanese.ShiftJIS, "Re: meeting\r\n" + sampleJa + "\r\n-- \r\nSent from my office\r\n", "shift_jis"},
		// Latin text stays Windows-1252, however its accents pair up.
		{"german", charmap.Windows1252, "Sehr geehrte Damen und Herren, vielen Dank für Ihre Nachricht. Wir würden uns freuen, Sie in München begrüßen zu dürfen. Daß Sie kommen, ist schön. Größe, Straße, Grüße, Füße, Maß. Mit freundlichen Grüßen, Jürgen Müller", "windows-1252"},
		{"french", charmap.Windows1252, "Bonjour, nous avons le plaisir de vous présenter notre sélection. Les élèves de l'école ont été très intéressés. À bientôt, François. « Déjà vu » — où êtes-vous ? Ça va, très bien.", "windows-1252"},
		// Accented capitals pair up as EUC characters (Ç and Õ make a
		// Hangul syllable), but inside Latin words.
		{"portuguese-caps", charmap.Windows1252, "INFORMAÇÕES IMPORTANTES SOBRE PROMOÇÕES E AÇÕES: CONDIÇÕES, SELEÇÕES, ELEIÇÕES, NAÇÕES, OPÇÕES, LIGAÇÕES, RELAÇÕES, AÇÃO, ATENÇÃO", "windows-1252"},
		{"french-caps", charmap.Windows1252, "ÉTÉ ÀÉÈ CRÈME BRÛLÉE À LA FRANÇAISE: ÉLÉGANCE, ÉTÉ ÉTERNEL, DÉJÀ ÉCRIT, CÔTÉ ÉCOLE, ÉVÉNEMENT", "windows-1252"},
		{"degrees", charmap.Windows1252, "Températures: 21°C, 23°C, 25°C, 19°C, 18°C, 24°C, 22°C, 20°C, 17°C, 26°C; ±2°C ½ ¼ ¾ ¿Qué? ¡Sí!", "windows-1252"},
		// Chinese with names and rarer characters (outside GB2312's
		// first level), which a review found missed.
		{"gb2312-rare", simplifiedchinese.GBK, "深圳市鑫瑞祥珠宝有限公司：翡翠、玛瑙、琥珀、珊瑚、砗磲批发零售，欢迎惠顾。联系人：王琦", "gbk"},
		// Thai, whose letters pair up like GBK's (a review found it read
		// as GBK), is told by its vowel and tone marks.
		{"thai", charmap.Windows874, "เรียนลูกค้าผู้มีอุปการะคุณบริษัทของเรายินดีนำเสนอสินค้าคุณภาพดีในราคาพิเศษสำหรับท่านโปรดติดต่อเราเพื่อรับข้อเสนอพิเศษนี้ก่อนหมดเขต", "windows-874"},
		{"thai-spaced", charmap.Windows874, "เรียนลูกค้า ผู้มีอุปการะคุณ บริษัทของเรา ยินดีนำเสนอ สินค้าคุณภาพดี ในราคาพิเศษ", "windows-874"},
		{"thai-short", charmap.Windows874, "ราคาพิเศษ", "windows-1252"},
		// Scripts whose letters sit at C0–FF pair up as EUC characters
		// with high trail bytes only.
		{"russian-1251", charmap.Windows1251, "Уважаемые клиенты! Наша компания предлагает лучшие товары по низким ценам. Звоните нам по телефону, благодарим за внимание.", "windows-1252"},
		{"russian-koi8", charmap.KOI8R, "Уважаемые клиенты! Наша компания предлагает лучшие товары по низким ценам. Звоните нам по телефону, благодарим за внимание.", "windows-1252"},
		{"greek", charmap.Windows1253, "Αγαπητοί πελάτες, η εταιρεία μας προσφέρει τα καλύτερα προϊόντα σε χαμηλές τιμές. Επικοινωνήστε μαζί μας σήμερα.", "windows-1252"},
		{"hebrew", charmap.Windows1255, "לקוחות יקרים, החברה שלנו מציעה את המוצרים הטובים ביותר במחירים נמוכים. צרו איתנו קשר היום.", "windows-1252"},
		{"arabic", charmap.Windows1256, "عملاءنا الأعزاء، تقدم شركتنا أفضل المنتجات بأسعار منخفضة. اتصلوا بنا اليوم للحصول على العرض.", "windows-1252"},
		// Too little to tell.
		{"short", japanese.ShiftJIS, "お世話", "windows-1252"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeWith(t, tc.enc, tc.text)
			if got := guessCharset(b); got != tc.want {
				t.Errorf("guessCharset = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDecodeUndeclared: text that declares no charset reads as what the
// sender wrote, so the Japanese rules see Japanese.
func TestDecodeUndeclared(t *testing.T) {
	b := encodeWith(t, japanese.ShiftJIS, sampleJa)
	if got := string(DecodeText("", b)); got != sampleJa {
		t.Errorf("undeclared Shift_JIS read as %q", got)
	}
	b = encodeWith(t, korean.EUCKR, sampleKo)
	if got := string(DecodeText("x-unknown-label", b)); got != sampleKo {
		t.Errorf("EUC-KR under an unknown label read as %q", got)
	}
	if got := string(DecodeText("", []byte("Ren\xe9 M\xfcller"))); got != "René Müller" {
		t.Errorf("Latin-1 read as %q", got)
	}
}

// TestPartDecodeMetaCharset: HTML that names its charset only in a
// <meta> element is read in it, as browsers and mail clients read it. The
// text is too short for guessCharset, so only the <meta> can tell.
func TestPartDecodeMetaCharset(t *testing.T) {
	const short = "您好"
	gb := encodeWith(t, simplifiedchinese.GBK, short)
	if guessCharset(gb) != "windows-1252" {
		t.Fatal("the sample is long enough to guess: the test would not show the <meta> read")
	}
	for _, tc := range []struct {
		name, ctype, head string
		read              bool
	}{
		{"http-equiv", "text/html", `<meta http-equiv="Content-Type" content="text/html; charset=gb2312">`, true},
		{"charset", "text/html; charset=us-ascii", `<META CHARSET='GB2312'>`, true},
		// The MIME charset wins; a label nobody knows is ignored; plain
		// text has no <meta>.
		{"declared", "text/html; charset=windows-1252", `<meta charset=gb2312>`, false},
		{"unknown", "text/html", `<meta charset=x-nonesuch>`, false},
		{"plain", "text/plain", `<meta charset=gb2312>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := "Content-Type: " + tc.ctype + "\r\n\r\n<html><head>" + tc.head + "</head><body><p>" + string(gb) + "</p></body></html>\r\n"
			res := walk(t, msg, Limits{})
			s, err := res.Parts[0].Text(0)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(s, short); got != tc.read {
				t.Errorf("text %q: read as GB2312 %v, want %v", s, got, tc.read)
			}
		})
	}
}

func TestMetaCharset(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`<meta http-equiv="Content-Type" content="text/html; charset=GB2312">`, "gbk"},
		{`<META HTTP-EQUIV=content-type CONTENT='text/html;charset="euc-jp"'>`, "euc-jp"},
		{`<meta http-equiv="Content-Type" content="text/html; charset=&quot;euc-jp&quot;">`, "euc-jp"},
		{`<meta charset="utf-8" />`, "utf-8"},
		{"<meta\n  charset=shift_jis>", "shift_jis"},
		// What browsers do with labels that cannot describe the page.
		{`<meta charset="utf-16">`, "utf-8"},
		{`<meta http-equiv=Content-Type content="text/html; charset=UTF-16LE">`, "utf-8"},
		{`<meta charset=x-user-defined>`, "windows-1252"},
		{`<meta charset=iso-2022-kr><meta charset=euc-kr>`, "euc-kr"},
		{`<meta charset=x-nonesuch>`, ""},
		// Not a charset declaration.
		{`<meta name=keywords content="charset=gbk">`, ""},
		{`<meta name="description" content="Our charset=big5 guide">`, ""},
		{`<!-- <meta charset=gb2312> --><meta charset=iso-8859-1>`, "windows-1252"},
		{`<script>document.write('<meta charset=gb2312>')</script>`, ""},
		{`<p>charset=gb2312</p>`, ""},
	} {
		if got := MetaCharset([]byte(tc.doc)); got != tc.want {
			t.Errorf("MetaCharset(%q) = %q, want %q", tc.doc, got, tc.want)
		}
	}
}

// TestPartDecodeMetaUTF16: a <meta> naming UTF-16 (which an ASCII page
// cannot be) must not turn the page into garbage that hides its words
// and links from every check.
func TestPartDecodeMetaUTF16(t *testing.T) {
	msg := "Content-Type: text/html\r\n\r\n<html><head><meta charset=\"utf-16\"></head><body>Your account is suspended: <a href=\"http://phish.example/\">verify</a></body></html>\r\n"
	res := walk(t, msg, Limits{})
	s, err := res.Parts[0].Text(0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "Your account is suspended") {
		t.Errorf("text %q", s)
	}
}

func TestEncapsulated(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFYI\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@y.example\r\nContent-Type: text/plain\r\n\r\nbegin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n--b--\r\n"
	res := walk(t, msg, Limits{})
	var got []string
	for _, p := range res.Parts {
		got = append(got, fmt.Sprintf("%s:%v", p.Path, p.Encapsulated))
	}
	if want := "1:false 2:true 2.u1:true"; strings.Join(got, " ") != want {
		t.Errorf("parts %q, want %q", strings.Join(got, " "), want)
	}
	// A message whose own body is message/rfc822 is shown as that
	// message: wrapping a body that way must not pass it off as a forward.
	msg = "Content-Type: message/rfc822\r\n\r\nFrom: c@y.example\r\nContent-Type: text/html\r\n\r\n<img src=\"images/top.gif\">\r\n"
	res2 := walk(t, msg, Limits{})
	if len(res2.Parts) != 1 || res2.Parts[0].Encapsulated {
		t.Errorf("a wrapped body counted as an attached message: %+v", res2.Parts)
	}
}

// TestPartDecodeBOM: a UTF-8 byte order mark wins over a <meta>, as in
// browsers; a <meta> naming GB2312 must not turn UTF-8 text into
// mojibake that hides it from the rules.
func TestPartDecodeBOM(t *testing.T) {
	msg := "Content-Type: text/html\r\n\r\n\xef\xbb\xbf<html><head><meta charset=gb2312></head><body>代开发票</body></html>\r\n"
	res := walk(t, msg, Limits{})
	if s, _ := res.Parts[0].Text(0); !strings.Contains(s, "代开发票") {
		t.Errorf("text %q", s)
	}
}

func FuzzGuessCharset(f *testing.F) {
	f.Add([]byte("Ren\xe9 M\xfcller"))
	f.Add([]byte("\x82\xa8\x90\xa2\x98\x62\x82\xc9\x82\xc8\x82\xc1\x82\xc4\x82\xa8\x82\xe8\x82\xdc\x82\xb7"))
	f.Add([]byte("\xa4\xa4\xa4\xe5\xb4\xfa\xb8\xd5\xa4\xa4\xa4\xe5\xb4\xfa\xb8\xd5\x8f\xa1"))
	f.Add([]byte("<meta charset=gb2312>\xc4\xfa\xba\xc3"))
	// Found by fuzzing: bytes that pass the byte tests but are not
	// assigned in the encoding (the decoder check now refuses them).
	f.Add([]byte("\x8c\x8c\x8c\xb1\xd1\xd1\xd1\xd1\xd1\xd1\xd1\xd1"))
	f.Add([]byte("\x82A\xc8\xc1\x82\xc4\x82A\x82\xe8\x82A\xc9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs := guessCharset(b)
		switch cs {
		case "windows-1252":
		case "shift_jis", "euc-jp", "euc-kr", "windows-874", "big5", "gbk":
			// A guess is made only on enough well-formed characters, as
			// x/text's own decoder reads them: at most one bad byte in 50.
			high := 0
			for _, c := range b[:min(len(b), guessScan)] {
				if c >= 0x80 {
					high++
				}
			}
			if high < guessMinChars {
				t.Fatalf("guessed %s from %d 8-bit bytes: %q", cs, high, b)
			}
			enc, _ := htmlindex.Get(cs)
			out, _ := enc.NewDecoder().Bytes(b[:min(len(b), guessScan)])
			if bad := strings.Count(string(out), "\uFFFD"); bad > high/50+2 {
				t.Fatalf("guessed %s, but %d characters do not decode: %q", cs, bad, b)
			}
		default:
			t.Fatalf("guessCharset = %q", cs)
		}
		if m := MetaCharset(b); m != "" {
			if _, err := htmlindex.Get(m); err != nil || !bytes.Contains(bytes.ToLower(b), []byte("meta")) {
				t.Fatalf("MetaCharset = %q from %q", m, b)
			}
		}
		_ = DecodeText("", b)
	})
}
