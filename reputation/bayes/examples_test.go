package bayes_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/reputation/bayes"
)

// limits are those of mamori check: the body stays in memory up to 1 MiB.
var limits = mailfile.Limits{MaxHeaders: 1000, MaxHeaderSize: 1 << 20, MaxMessageSize: 64 << 20, SpoolThreshold: 1 << 20}

// Learning and scoring token lists directly, with a classifier that
// answers after two messages of each class.
func Example() {
	ctx := context.Background()
	c, err := bayes.New(bayes.NewMemory(), bayes.Options{MinSpam: 2, MinHam: 2})
	if err != nil {
		panic(err)
	}
	learn := func(id bayes.Hash, class bayes.Class, text string) {
		if _, err := c.Learn(ctx, id, class, strings.Fields(text)); err != nil {
			panic(err)
		}
	}
	learn(1, bayes.Spam, "cheap meds online order now")
	learn(2, bayes.Spam, "cheap watches online order today")
	learn(3, bayes.Ham, "the build is broken on arm64")
	learn(4, bayes.Ham, "patch for the arm64 build attached")

	for _, text := range []string{"order cheap meds", "arm64 patch attached", "lunch at noon"} {
		res, ok, err := c.Classify(ctx, strings.Fields(text))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-22s ready=%v prob=%.3f clues=%d\n", text, ok, res.Prob, len(res.Clues))
	}
	// Output:
	// order cheap meds       ready=true prob=0.922 clues=3
	// arm64 patch attached   ready=true prob=0.104 clues=3
	// lunch at noon          ready=true prob=0.500 clues=0
}

// Tokenizing a message: header tokens carry their origin, Japanese text is
// cut into bigrams, and the m: tokens describe the structure.
func ExampleTokenizer_Tokenize() {
	raw := "From: =?UTF-8?B?5bGx55Sw?= <yamada@mail.example.co.jp>\r\n" +
		"Subject: =?UTF-8?B?5Lya6K2w?= 10:00\r\n" +
		"\r\n" +
		"明日の会議 https://intra.example.co.jp/\r\n"
	m, err := mailfile.Parse(strings.NewReader(raw), limits)
	if err != nil {
		panic(err)
	}
	defer m.Body.(io.Closer).Close()
	defer m.Done() // releases the MIME walk shared through the message
	toks, err := (&bayes.Tokenizer{}).Tokenize(context.Background(), m)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(toks, " "))
	// Output:
	// example h:from:d:example.co.jp h:from:h:mail.example.co.jp h:from:n:山田 h:mailer:none h:msgid:none h:rcpt:0 h:received:0 h:to:none https intra m:hosts:1 m:img:0 m:text-only s:cs:utf-8 s:n:2 s:会議 u:d:example.co.jp u:h:intra.example.co.jp の会 会議 日の 明日
}

// A classifier over a database file, learning parsed messages.
func ExampleOpenBolt() {
	dir, err := os.MkdirTemp("", "bayes")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := bayes.OpenBolt(filepath.Join(dir, "bayes.db"), bayes.BoltOptions{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	c, err := bayes.New(store, bayes.Options{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	m, err := mailfile.Parse(strings.NewReader("Subject: hello\r\n\r\nhello world\r\n"), limits)
	if err != nil {
		panic(err)
	}
	defer m.Body.(io.Closer).Close()
	defer m.Done() // releases the MIME walk shared through the message
	for range 2 {
		changed, err := c.LearnMessage(ctx, m, bayes.Ham)
		fmt.Println("changed:", changed, err)
	}
	_, ok, err := c.ClassifyMessage(ctx, m)
	fmt.Println("ready:", ok, err)
	st, _ := store.Stats(ctx)
	fmt.Printf("%d ham, %d spam, %d tokens\n", st.Ham, st.Spam, st.Tokens)
	// Output:
	// changed: true <nil>
	// changed: false <nil>
	// ready: false <nil>
	// 1 ham, 0 spam, 12 tokens
}
