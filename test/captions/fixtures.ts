// Caption files as tools and people really write them, for the captions tests (generated
// here, not checked-in samples).

const crlf = (lines: string[]) => lines.join("\r\n");

// A SubRip file as a Windows tool writes it: BOM, CRLF, a 0-based first index, a cue with no
// index, repeated and out-of-order indexes, entities, <i>/<b>/<font>, an ASS override, a text
// line that is a number, extra blank lines, SRT position coordinates, a cue ending before it starts.
export const REAL_SRT = "\uFEFF" + crlf([
  "0",
  "00:00:01,000 --> 00:00:03,500",
  "<i>Fish &amp; chips</i> &nbsp;for &quot;two&quot;",
  "",
  "00:00:04,250 --> 00:00:06,000 X1:100 X2:600 Y1:40 Y2:80",
  "{\\an8}It&#39;s <b>4 o&#x2019;clock</b>",
  "",
  "",
  "",
  "5",
  "00:00:07,000 --> 00:00:08,000",
  "1984",
  "",
  "5",
  "0:00:09.5 --> 0:00:11,75",
  "<font color=\"#FFFF00\">Yellow</font> and <font face=\"Arial\">plain</font>",
  "second line &lt;here&gt;",
  "",
  "3",
  "00:00:12,000 --> 00:00:11,000",
  "ends before it starts",
  "",
]);

export const REAL_VTT = [
  "WEBVTT - made by hand",
  "Kind: captions",
  "Language: en",
  "",
  "STYLE",
  "::cue(.yellow) { color: yellow; }",
  "",
  "NOTE a note that spans",
  "two lines, with 00:00:01.000 --> 00:00:02.000 in it",
  "",
  "REGION",
  "id:top",
  "width:40%",
  "",
  "intro",
  "00:01.000 --> 00:03.000 align:start position:10% region:top",
  "<v Roger Bingham><c.yellow>We are</c> in</v> <b>New York</b>",
  "",
  "00:00:04.000 --> 00:00:06.500 line:0",
  "<lang fr>Bonjour</lang> <ruby>漢<rt>かん</rt></ruby>字",
  "karaoke <00:00:05.000>now",
  "",
  "NOTE trailing",
  "",
].join("\n");
