/**
 * English stop words plus the markup and mail-header words that fill raw e-mail bodies; they carry no
 * topic and would otherwise dominate every topic.
 */
const STOP_WORDS = new Set(
  (
    'a about above after again against all also am an and any are aren as at be because been before being ' +
    'below between both but by can cannot could did didn do does doesn doing don down during each few for ' +
    'from further had has have having he her here hers herself him himself his how if in into is isn it its ' +
    'itself just let me more most my myself no nor not now of off on once only or other ought our ours ' +
    'ourselves out over own same she should so some such than that the their theirs them themselves then ' +
    'there these they this those through to too under until up very was wasn we were what when where which ' +
    'while who whom why will with won would you your yours yourself yourselves get got one two may might ' +
    'must shall us also via per yes like just use used using many much make made new know see way well ' +
    'back even still want need say said says going come take think good time first last since re ' +
    // mail and markup noise
    'http https www com net org html htm nbsp font face size color width height align border table ' +
    'td tr br div span img src href style class center left right arial helvetica verdana serif sans ' +
    'mailto subject date mon tue wed thu fri sat sun jan feb mar apr jun jul aug sep oct nov dec ' +
    'message mail email list lists listinfo mailman admin url cellpadding cellspacing bgcolor valign ' +
    'content type text plain charset iso ascii utf encoding transfer quoted printable mime version ' +
    'localhost received esmtp smtp postfix fetchmail id'
  ).split(' '),
);

/** True for words the topic model ignores. */
export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word);
}

/**
 * The body of a raw e-mail (after the header block), with quoted-printable soft breaks and escapes,
 * HTML tags and entities removed.
 */
export function mailBody(raw: string): string {
  const headerEnd = raw.search(/\r?\n\r?\n/);
  const body = headerEnd >= 0 ? raw.slice(headerEnd) : raw;
  return body
    .replace(/=\r?\n/g, '')
    .replace(/=[0-9A-Fa-f]{2}/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&[a-z]+;|&#\d+;/gi, ' ');
}

/**
 * Lower-case alphabetic words of 3 to 15 letters, stop words dropped. Longer runs of letters are
 * usually encoded junk (base64, URLs), so they are dropped too.
 */
export function tokenize(text: string): string[] {
  const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
  return words.filter((w) => w.length >= 3 && w.length <= 15 && !STOP_WORDS.has(w));
}
