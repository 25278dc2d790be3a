//! Raw text into words, for text that comes without a tokenization of its own (`predict`
//! on plain text): Unicode word boundaries (UAX #29), so that punctuation is a word of its
//! own (`Gobierno,` -> `Gobierno` `,`; `"Telefónica"` -> `"` `Telefónica` `"`), whitespace
//! dropped, and every character a word where the language is written without spaces. Each
//! word keeps its span in the text, in characters, so that entities slice the input.

use unicode_segmentation::UnicodeSegmentation;

/// The words of `text` as (word, first character, one past its last character).
pub fn split(text: &str, unspaced: bool) -> Vec<(String, usize, usize)> {
    let mut words = Vec::new();
    let (mut chars_before, mut bytes_before) = (0, 0);
    for (byte, segment) in text.split_word_bound_indices() {
        chars_before += text[bytes_before..byte].chars().count();
        bytes_before = byte;
        if unspaced {
            let chars = segment.chars().enumerate().filter(|(_, c)| !c.is_whitespace());
            words.extend(chars.map(|(k, c)| (c.to_string(), chars_before + k, chars_before + k + 1)));
        } else if !segment.chars().all(char::is_whitespace) {
            words.push((segment.to_string(), chars_before, chars_before + segment.chars().count()));
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(words: &[(String, usize, usize)]) -> Vec<&str> {
        words.iter().map(|w| w.0.as_str()).collect()
    }

    #[test]
    fn punctuation_is_split_off_and_spans_slice_the_text() {
        let text = "  El Gobierno, en \"Telefónica\" (España). Ángel  llegó";
        let words = split(text, false);
        assert_eq!(
            texts(&words),
            ["El", "Gobierno", ",", "en", "\"", "Telefónica", "\"", "(", "España", ")", ".", "Ángel", "llegó"]
        );
        for (word, start, end) in &words {
            assert_eq!(&text.chars().skip(*start).take(end - start).collect::<String>(), word);
        }
        // Words that keep their inner marks: contractions, decimals, abbreviations' dots inside.
        assert_eq!(texts(&split("don't 3,5 U.S.A", false)), ["don't", "3,5", "U.S.A"]);
    }

    #[test]
    fn unspaced_text_is_one_word_per_character() {
        let words = split("北京 大学。", true);
        assert_eq!(texts(&words), ["北", "京", "大", "学", "。"]);
        assert_eq!(words.iter().map(|w| (w.1, w.2)).collect::<Vec<_>>(), [(0, 1), (1, 2), (3, 4), (4, 5), (5, 6)]);
    }
}
