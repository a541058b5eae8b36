/**
 * Word banks for the corpus generator: nouns, modifiers, verbs, typed variable names, string
 * contents and file names. Identifiers are composed from these (noun × modifier × pattern), which
 * gives thousands of distinct names. No entry contains a quote or a backslash, and no entry is a
 * Python keyword or a builtin the programs call (see RESERVED).
 */

/** Whitespace-separated words of a template. */
function words(s: string): string[] {
  return s.trim().split(/\s+/);
}

/** Non-empty trimmed lines of a template. */
function lines(s: string): string[] {
  return s.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
}

/** Singular nouns that pluralise by the simple rules of `plural`. */
export const NOUNS: readonly string[] = words(`
  user item order price name line word node edge key value score record row column cell task job
  event message token city color animal book student grade product account amount point player
  team game card deck shape circle square car road trip station train ticket seat room hotel guest
  booking flight airport movie song album artist playlist recipe ingredient meal menu dish fruit
  tree leaf flower garden plant seed farm field crop customer invoice payment bill tax budget
  expense salary employee manager office project file folder path url link page site post comment
  tag label title author chapter note letter digit number count total step level stage round turn
  move board piece tile block chunk batch sample reading sensor device signal packet request
  response server client session query result match pattern rule setting option flag mode state
  status error warning entry log report summary metric stat vote rating review survey answer
  question quiz exam course lesson school teacher member group club contact email phone address
  street country region zone area planet star moon ship crew cargo box bag shelf store shop cart
  coupon discount stock unit weight height width length size speed distance angle temperature day
  week month year hour minute date time event visitor patient doctor pet dog cat bird fish horse
  word sentence paragraph document image pixel frame layer model feature vector
`);

/** Adjective-like prefixes for compound names (`max_score`, `new_items`). */
export const MODIFIERS: readonly string[] = words(`
  max min total new old first last current next prev best worst raw clean valid temp final base
  default extra main top bottom left right small big short long high low active empty full open
  closed good bad unique sorted merged selected pending visible hidden local remote daily weekly
  avg mean start end initial target current input output parsed filtered recent primary secondary
`);

/** Adjectives for predicates (`is_valid`, `is_empty`). */
export const ADJECTIVES: readonly string[] = words(`
  valid empty full ready active open closed sorted even odd positive negative large small done
  complete expired enabled visible hidden locked available balanced unique safe online busy free
  ok new
`);

/** Verbs for procedures (no return value). */
export const PROC_VERBS: readonly string[] = words(`
  print show log display update process reset handle report render notify check_and_print refresh
  apply register announce dump trace
`);

/** Plural names of int lists. */
export const INT_PLURALS: readonly string[] = words(`
  numbers scores ages prices sizes nums values marks grades points counts totals ids weights
  heights lengths amounts temps readings ratings votes steps levels years costs digits indices
  distances speeds widths durations rewards balances quantities samples bids
`);

/** Plural names of string lists. */
export const STR_PLURALS: readonly string[] = words(`
  names words lines items tags labels keys titles colors cities fruits animals files paths tokens
  messages users emails parts fields columns codes letters commands urls authors countries
  languages categories headers entries queries notes errors warnings events songs
`);

/** Names of int variables. */
export const INT_NAMES: readonly string[] = words(`
  count total n index size limit step score age year level depth width height offset amount
  balance quantity length number counter tries attempts retries hits misses num idx best worst
  start end low high mid target threshold capacity price cost points rank position row_count
  col_count steps delta remainder quotient product factor base power minutes seconds hours days
  margin budget bonus
`);

/** Names of string variables. */
export const STR_NAMES: readonly string[] = words(`
  name title label text message word line key prefix suffix code status mode greeting city color
  path filename sep char letter token header footer query command answer reply description summary
  note comment username email url tag category kind language country first_name last_name
  full_name sentence phrase prompt banner caption heading domain extension unit currency
  level_name initials slug
`);

/** Names that fit several types: used for sets and strings alike (set_or_string). */
export const NEUTRAL_NAMES: readonly string[] = words(`
  result data out output acc buf res collected combined memo store seen pool bag found picked
  chosen gathered merged joined extra parts temp tmp x s items things stuff keys marks visited
  cache record log trail history buffer text letters chars names tags
`);

/** Names of dict variables (str keys, int values). */
export const DICT_NAMES: readonly string[] = words(`
  counts lookup config settings totals scores ages prices stock inventory freq table cache
  registry mapping word_counts tally ranks votes grades balances limits options weights stats
  budget index_of positions sizes hits points levels quantities populations distances
`);

/** Names of set variables. */
export const SET_NAMES: readonly string[] = words(`
  seen visited unique used taken known done_ids blocked allowed banned selected checked processed
  skipped missing duplicates matches owners members tags words_seen ids keys_seen labels
`);

/** Names of bool variables. */
export const BOOL_NAMES: readonly string[] = words(`
  found done valid ok flag changed ready active running debug verbose success finished matched
  enabled visible empty dirty stop is_valid is_ready is_done is_empty is_open has_error has_items
  keep_going should_stop should_save skip quiet strict dry_run is_admin is_active passed failed
  locked ready_flag use_cache reverse overwrite in_range
`);

/** Names of nested int lists. */
export const GRID_NAMES: readonly string[] = words(`
  grid matrix board rows pairs groups chunks batches layers blocks cells nested buckets table
  levels weeks shelves stacks columns tiles
`);

/** Float variable names. */
export const FLOAT_NAMES: readonly string[] = words(`
  ratio average mean rate percent fraction scale temperature speed weight distance area radius
  tax_rate discount share progress accuracy
`);

/** Index variable names for `for i in range(...)` and `enumerate`. */
export const INDEX_NAMES: readonly string[] = words(`
  i i i i j k idx index n pos num row col step line_no rank count t
`);

/** Words for string contents and dict keys. */
export const WORDS: readonly string[] = words(`
  apple banana cherry grape lemon mango orange pear peach plum red green blue yellow black white
  purple pink gray brown hello world python code data test alpha beta gamma delta omega north
  south east west left right up down start stop pause alice bob carol dave eve frank grace heidi
  ivan judy mallory oscar peggy trent victor walter anna ben chris dana emma liam noah olivia
  sophia mia lucas zoe sam max leo nina omar ravi paris london tokyo berlin rome madrid cairo lima
  oslo dublin cat dog bird fish horse cow lion tiger bear wolf fox owl one two three four five six
  seven eight nine ten yes no maybe true false none empty full open closed new old small medium
  large low high fast slow hot cold warm cool admin guest user root staff owner editor viewer
  member player book pen paper table chair lamp door window house car bike spring summer autumn
  winter monday tuesday friday sunday today error warning info debug success failed pending active
  done ready name age id email score level count total price size color x y z a b c abc xyz foo
  bar baz spam eggs ham rock paper scissors sun moon star sky sea river lake hill bread milk
  cheese rice soup salad pizza cake tea coffee juice gold silver bronze iron wood stone glass
  water fire earth air
`);

/** Capitalised words that start messages and labels. */
export const LABELS: readonly string[] = words(`
  Total Count Result Average Name Error Warning Done Processing Found Missing Skipping Loaded
  Saved Value Score Items Best Worst Sum Max Min Size Length Status Step Level Round Player Winner
  Hello Welcome Checking Reading Writing Updated Created Removed Added Index Key Answer Output
  Input Report Summary Price Balance User Time
`);

/** Short phrases used in messages (after a label). */
export const PHRASES: readonly string[] = lines(`
  is ready
  was not found
  is empty
  has been saved
  is too large
  is invalid
  items in total
  done
  starting now
  finished
  out of range
  already exists
  not allowed
  has changed
  is up to date
  needs review
  was skipped
  is missing
  loaded from disk
  written to file
  per second
  left
  remaining
  so far
  in stock
  is the winner
  points
  times
  entries
  records processed
  lines read
  is correct
`);

/** Strings containing an apostrophe, always written in double quotes. */
export const APOSTROPHE_PHRASES: readonly string[] = lines(`
  don't stop
  it's done
  can't open file
  that's all
  let's go
  won't fit
  didn't match
  isn't valid
  you're welcome
  we're ready
`);

/** File stems whose role is reading (inputs). */
export const READ_STEMS: readonly string[] = words(`
  input data config source notes users words raw_data settings list dataset records names scores
  lines params inventory contacts questions dictionary samples corpus train test sample_input
  readme puzzle
`);

/** File stems whose role is writing (outputs). */
export const WRITE_STEMS: readonly string[] = words(`
  output results report summary out export backup answers output_data stats scores_out cleaned
  sorted processed final_report result log_out submission predictions totals new_data dump archive
  copy
`);

/** File extensions. */
export const EXTENSIONS: readonly string[] = words(`
  .txt .txt .txt .csv .json .log .dat .md
`);

/** Optional folders in file names. */
export const FOLDERS: readonly string[] = [
  "",
  "",
  "",
  "",
  "",
  ...words("data/ files/ tmp/ logs/ out/"),
];

/** Verbs of functions that read files. */
export const READ_VERBS: readonly string[] = words(`
  load read parse import fetch open_and_read get scan collect
`);

/** Verbs of functions that write files. */
export const WRITE_VERBS: readonly string[] = words(`
  save write export dump store record write_out persist emit
`);

/** File handle names by role. */
export const READ_HANDLES: readonly string[] = words(`
  f f f fh infile src fin reader file_in inp
`);

export const WRITE_HANDLES: readonly string[] = words(`
  f f f fh outfile dst fout out_file file_out writer
`);

/** Path variable names by role. */
export const READ_PATHS: readonly string[] = words(`
  path filename input_path in_path input_file source_path src_path data_file config_path
  infile_name
`);

export const WRITE_PATHS: readonly string[] = words(`
  path filename output_path out_path output_file dest_path dst_path report_file save_path
  outfile_name
`);

/** Comment templates; `$Ns` is a plural noun, `$N` a noun, `$V` a verb. */
export const COMMENTS: readonly string[] = lines(`
  # $V the $Ns
  # $V each $N
  # skip empty $Ns
  # TODO: handle missing $Ns
  # keep track of the $Ns we have seen
  # build the result
  # check the $N first
  # make sure the $N is valid
  # update the running total
  # this is the main loop
  # count how many $Ns there are
  # return early if there is nothing to do
  # $V the $N
  # NOTE: order matters here
  # swap the two values
  # collect the $Ns
  # fall back to a default
  # print a short summary
  # $V all $Ns
  # simple case
  # read the $N from the file
  # write the $Ns to disk
  # nested lists of $Ns
  # one entry per $N
  # FIXME: this is slow for many $Ns
  # the $N must be positive
`);

/** Verbs used inside comments and docstrings. */
export const COMMENT_VERBS: readonly string[] = words(`
  process check count print sort filter clean update collect compute find load save merge group
  format validate convert scan parse
`);

/** Modules the programs may import, with the attribute calls they use. */
export const MODULES: readonly string[] = words(`
  math random os sys json time
`);

/**
 * Names a generated identifier must never take: Python keywords and the builtins the programs
 * call (so no program shadows `len` or `print`).
 */
export const RESERVED: ReadonlySet<string> = new Set(words(`
  False None True and as assert async await break class continue def del elif else except finally
  for from global if import in is lambda nonlocal not or pass raise return try while with yield
  print len range enumerate open set list dict str int float bool sum max min sorted abs round zip
  map filter any all type id input format next iter hash object tuple reversed self main math
  random os sys json time file line_count
`));
