package daemon

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/reputation/bayes"
)

// learnLock bounds the wait for the token database when another learner
// (mamori learn) holds it; the admin then sees the error and tries again.
const learnLock = 5 * time.Second

// learnMessage teaches the classifier configured in cfg one message, as
// mamori learn would (same store, same tokenizer, same message key, so
// that learning it again from the command line counts once).
func learnMessage(ctx context.Context, cfg *config.Config, dataDir string, msg io.Reader, spam bool) error {
	bc, _, err := cfg.Bayes(dataDir)
	if err != nil {
		return err
	}
	m, err := mailfile.Parse(msg, cfg.Limits.MailLimits())
	if err != nil {
		return fmt.Errorf("reading the message: %w", err)
	}
	defer m.Done()
	tz := bayes.Tokenizer{Content: cfg.Limits.Content()}
	toks, err := tz.Tokenize(ctx, m)
	if err != nil {
		return err
	}
	id, err := bayes.MessageKey(m)
	if err != nil {
		return err
	}
	var st bayes.Store
	if bc.Redis != nil {
		st, err = bc.OpenRedis()
	} else {
		st, err = bayes.OpenBolt(bc.Path, bayes.BoltOptions{Timeout: learnLock})
	}
	if err != nil {
		return fmt.Errorf("classifier store %s: %w", bc.Where(), err)
	}
	defer st.Close()
	class := bayes.Ham
	if spam {
		class = bayes.Spam
	}
	_, err = st.Learn(ctx, time.Now(), []bayes.Learning{{ID: id, Class: class, Tokens: bayes.TokenHashes(toks)}})
	return err
}
