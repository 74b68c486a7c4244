package mimepart

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
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
		{"degrees", charmap.Windows1252, "Températures: 21°C, 23°C, 25°C, 19°C, 18°C, 24°C, 22°C, 20°C, 17°C, 26°C; ±2°C ½ ¼ ¾ ¿Qué? ¡Sí!", "windows-1252"},
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
			res, err := Walk(context.Background(), strings.NewReader(msg), int64(len(msg)), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
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

func FuzzGuessCharset(f *testing.F) {
	f.Add([]byte("Ren\xe9 M\xfcller"))
	f.Add([]byte("\x82\xa8\x90\xa2\x98\x62\x82\xc9\x82\xc8\x82\xc1\x82\xc4\x82\xa8\x82\xe8\x82\xdc\x82\xb7"))
	f.Add([]byte("\xa4\xa4\xa4\xe5\xb4\xfa\xb8\xd5\xa4\xa4\xa4\xe5\xb4\xfa\xb8\xd5\x8f\xa1"))
	f.Add([]byte("<meta charset=gb2312>\xc4\xfa\xba\xc3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		switch cs := guessCharset(b); cs {
		case "shift_jis", "euc-jp", "euc-kr", "big5", "gbk", "windows-1252":
		default:
			t.Fatalf("guessCharset = %q", cs)
		}
		_ = DecodeText("", b)
		_ = MetaCharset(b)
	})
}
