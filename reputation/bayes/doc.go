// Package bayes is Mamori's statistical content classifier, the "Bayes" of
// SpamAssassin and rspamd: it learns the tokens of messages a user labels
// spam or ham and scores new messages by them. This package is the pure
// library: a Tokenizer, a Classifier and the Store interface with three
// stores, Memory, Bolt and Redis. The check adapter (check.go, touch.go),
// its README and metrics live next to it.
//
// # Scoring
//
// For a token w found in b learned spam and g learned ham messages, out of
// nspam and nham learned messages (Graham's per-class rates, Robinson's
// smoothing):
//
//	p(w) = (b/nspam) / (b/nspam + g/nham)
//	f(w) = (s·x + n·p(w)) / (s + n)          n = b + g
//
// f(w) is Robinson's "degree of belief": with no data it is x, the
// assumed probability of an unknown word, and it moves toward p(w) as n
// grows, s being the weight of the prior in messages. Defaults s = 1,
// x = 0.5 (Options.Strength, Options.UnknownProb). Tokens with
// |f(w) − 0.5| ≤ 0.1 (Options.MinDeviation) say too little and are
// dropped; of the others the N = 150 (Options.MaxClues) farthest from 0.5
// are combined with Fisher's method, as SpamBayes (chi2_spamprob) and
// SpamAssassin (Bayes/CombineChi.pm) do:
//
//	S = 1 − Q(−2 Σ ln(1 − f(w)), 2N)        spamminess
//	H = 1 − Q(−2 Σ ln f(w), 2N)             hamminess
//	Prob = (S − H + 1) / 2                  in [0, 1]
//
// where Q(χ², v) is the chi-square survival function with v degrees of
// freedom; for even v it is exactly e^(−m) Σ_{i<v/2} mⁱ/i!, m = χ²/2. Under
// the hypothesis that the f(w) are independent and uniform (random text),
// −2 Σ ln f is χ² with 2N degrees of freedom, so H near 1 means the
// tokens are far too hammy to be chance, and likewise S. Prob is near 1
// for spam, near 0 for ham, and near 0.5 both when nothing is known and
// when strong evidence points both ways: "unsure" is a real answer, which
// is the reason for Fisher's method over Graham's product of
// probabilities. Robinson writes the same indicator as I = (1 + H' − S')/2
// with H' = 1 − H and S' = 1 − S.
//
// Defaults follow the brief and the literature rather than this corpus:
// SpamBayes uses s = 0.45, minimum strength 0.1 and 150 discriminators. On
// the 10-fold cross-validation in eval_test.go, s = 0.45 or 0.2, minimum
// deviation 0.2 or 0.3, N = 50 or 300 and x = 0.4 all moved detection at
// 0.9 by at most three percentage points, with false positives within one
// message, so no value was tuned to it.
//
// The classifier is silent (Classify returns ok = false) until the store
// holds at least Options.MinSpam and Options.MinHam learned messages, 200
// each by default, SpamAssassin's bayes_min_spam_num and bayes_min_ham_num:
// with fewer, f(w) rests on counts of one or two and scores swing.
//
// References:
//   - P. Graham, "A Plan for Spam", 2002, https://paulgraham.com/spam.html,
//     and "Better Bayesian Filtering", 2003, https://paulgraham.com/better.html.
//   - G. Robinson, "Spam Detection", 2002,
//     http://radio.weblogs.com/0101454/stories/2002/09/16/spamDetection.html,
//     and "A Statistical Approach to the Spam Problem", Linux Journal 107,
//     2003, https://www.linuxjournal.com/article/6467.
//   - R. A. Fisher, Statistical Methods for Research Workers, 4th ed.,
//     1932, §21.1, the combination of probabilities from independent tests.
//   - SpamBayes, spambayes/classifier.py (chi2_spamprob) and chi2.py.
//   - Apache SpamAssassin, Mail::SpamAssassin::Plugin::Bayes and
//     Mail::SpamAssassin::Bayes::CombineChi.
//
// # Tokens
//
// Tokenizer.Tokenize returns a message's tokens, sorted and distinct. A
// token is counted once per message however often it occurs. Header and
// meta tokens carry a prefix naming their origin, so that "free" in a
// Subject and in the body are different evidence:
//
//	s:WORD            Subject words (RFC 2047 decoded), s:n:… numbers,
//	                  s:caps (5+ letters, all capitals), s:none,
//	                  s:cs:CHARSET of its encoded words
//	h:from:n:WORD     From display-name words; h:from:noname,
//	                  h:from:name-has-addr ("paypal@paypal.com" <x@evil>)
//	h:from:d:DOMAIN   registered domain (eTLD+1) of the From address,
//	h:from:h:HOST     and the full host when longer; h:from:none,
//	                  h:from:nodomain
//	h:reply-to:d:…    the same for Reply-To, and h:reply-to:same / other
//	                  comparing its registered domain with From's
//	h:rcpt:BUCKET     addresses in To and Cc: 0 1 2 3-5 6-10 11+; h:to:none
//	h:received:N      Received fields: 0 … 9, 10+ (hops; relative to the
//	                  site's own relays, which is fine: it is learned per site)
//	h:mailer:NAME     product of X-Mailer or User-Agent without versions
//	                  ("microsoft-outlook", "mutt"); h:mailer:none
//	h:msgid:none      no Message-ID
//	WORD              body words of text/plain and text/html parts
//	n:BUCKET          numbers by digit count (n:4 "2002", n:$4 "$19.95")
//	long:N            words over 40 letters by length, N = 40 … 100
//	u:d:DOMAIN        registered domain of each URL host (reputation/uribl,
//	u:h:HOST          which also undoes obfuscation), the host when longer
//	u:ip              a URL with an IP address
//	e:d:DOMAIN        domain of an e-mail address or mailto: in the body
//	m:…               meta: m:html-only / m:html+text / m:text-only /
//	                  m:no-text, m:img:BUCKET (image parts and <img> tags),
//	                  m:hosts:BUCKET, m:cs:CHARSET of text parts,
//	                  m:att:TYPE and m:ext:EXT of attachments, m:mime:KIND
//	                  for each kind of broken MIME structure mimepart found
//
// Body text is decoded from its declared charset with
// golang.org/x/text/encoding/htmlindex; unlabelled text with ISO-2022-JP
// escapes is read as ISO-2022-JP and other non-UTF-8 text as Windows-1252,
// and raw 8-bit header text is read in the charset of the first text part,
// as Japanese mail clients do. HTML contributes its visible text only
// (golang.org/x/net/html tokenizer; no script, style or comments; inline
// tags do not split words, so "fr<b></b>ee" is "free"). Text is normalised
// to NFKC (full-width letters and half-width katakana fold to their usual
// forms) and lower-cased. Words in alphabetic scripts are runs of
// letters, digits, marks, ' - and $, of 3 to 40 letters. Chinese and
// Japanese have no spaces between words, and Korean attaches particles to
// them, so runs of Han, Hiragana, Katakana and Hangul become overlapping
// character bigrams ("会議資料": 会議 議資 資料), as CJK full-text search
// does; a lone character counts alone.
//
// Bounds keep hostile input cheap: at most Tokenizer.MaxTokens distinct
// tokens (5,000; header tokens come first and a quarter of the limit, at
// most 64, is kept for the m: tokens), at most Tokenizer.MaxTextBytes of
// decoded text parts read in all (512 KiB), 2 KiB of each header, 64
// tokens from the Subject and 16 from the From name, 100 URL hosts per part, NFKC output at most
// twice its input. Everything else is linear in the bytes read.
//
// # Stores
//
// A Store keeps, per token, the spam and ham counts and the time it was
// last learned or touched, and the totals of learned messages. Tokens are
// stored as 64-bit hashes (TokenHash: FNV-1a with the MurmurHash3
// finaliser), as SpamAssassin stores 40-bit SHA-1 prefixes and rspamd
// 64-bit hashes: keys stay 8 bytes whatever the token. Two tokens with the
// same hash share their counts, so each is scored with the blend of both;
// nothing fails. Among ten million distinct tokens the chance that any two
// collide is about n²/2⁶⁵ ≈ 3·10⁻⁶. The hash is unkeyed: a sender who
// crafted a token colliding with a hammy one would gain nothing over
// writing the hammy token itself. It is part of the database format.
//
// Every Store call names its tokens in one batch (Get, Learn, Touch), so a
// network store answers a message in one round trip; only Expire walks
// the store. Learn applies each message atomically and records its class
// under MessageKey (SHA-256 of the Message-ID and the first MiB of the
// body, 64 bits): learning a message again as the same class changes
// nothing and returns false, learning it as the other class moves its
// counts, class None unlearns it. Moving or unlearning subtracts the
// tokens the message has now, which are those it was learned with unless
// the tokenizer changed in between; counts stop at 0. Expire removes
// tokens not seen since a time, optionally only rare ones, and old
// learned-message records. Touch refreshes LastSeen for scored mail; the
// check adapter collects the tokens it scores with and touches them every
// 10 minutes in chunks (touch.go), since scoring itself writes nothing.
//
// Memory keeps everything in maps. Bolt keeps it in one go.etcd.io/bbolt
// file. bbolt is pure Go (the daemon builds with CGO_ENABLED=0), one file
// with a B+tree read through mmap, so the few hundred lookups of a message
// cost microseconds; its transactions are ACID with MVCC, and a Learn
// batch is one commit. Between processes, though, bbolt locks the file
// itself (shared for readers, exclusive for a writer, polled every 50 ms),
// so the daemon's lookups wait while mamori learn writes a batch. It is maintained as
// etcd's storage engine. Against SQLite (cgo, or a large transpiled port,
// plus SQL for key lookups) and LSM stores such as Pebble (background
// compaction goroutines, many files), it is the smallest thing that is
// crash-safe. Its costs: one writer at a time, holding an exclusive file
// lock that readers wait for (so mamori learn writes in batches and lets
// go of the file between them, the daemon opens it read-only per message
// and waits at most 300 ms, and its last-seen writes go in short chunks;
// the style guide's control socket, through which the CLI would ask the
// daemon to write, does not exist yet), and a file that does not shrink
// after Expire (freed pages are reused).
package bayes
