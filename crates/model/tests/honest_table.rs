//! Keeps the error table honest: every row of `apigw_model::codes` marked `emitted: true` is
//! produced by some non-test source (`codes::NAME` outside `#[cfg(test)]` items and test
//! folders) and asserted by some test (the literal `"NAME"`, or `codes::NAME`, in a test file
//! or test module); a row marked `emitted: false` is produced by nothing.
//!
//! The source tree is read from the repository (`CARGO_MANIFEST_DIR/../..`): `crates/*/src`
//! and `apigw/src` are sources, `crates/*/tests` and `apigw/tests` are tests. Comments never
//! count; string literals count only as test assertions.

use apigw_model::codes::ALL;
use std::path::{Path, PathBuf};

/// Codes another change is adding right now, with the path that produces them and their
/// tests. Remove a code from here when its producer and its test have landed.
const EXEMPT: &[&str] = &[];

/// This file names every code in its messages; it must not count as a test of any of them.
const THIS_FILE: &str = "crates/model/tests/honest_table.rs";

/// A Rust source with comments blanked (`code`), and the same with the contents of string and
/// character literals blanked too (`bare`). Both keep the original byte offsets.
struct Lexed {
    code: String,
    bare: String,
}

fn lex(src: &str) -> Lexed {
    let s: Vec<char> = src.chars().collect();
    let mut code = String::with_capacity(src.len());
    let mut bare = String::with_capacity(src.len());
    // Blank a char in both outputs, keeping its width in bytes (and line breaks).
    fn blank(out: &mut String, c: char) {
        if c == '\n' {
            out.push('\n');
        } else {
            out.push_str(&" ".repeat(c.len_utf8()));
        }
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                blank(&mut code, s[i]);
                blank(&mut bare, s[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                if i >= s.len() {
                    break;
                }
                let (a, b) = (s[i], s.get(i + 1).copied());
                let step = if a == '/' && b == Some('*') {
                    depth += 1;
                    2
                } else if a == '*' && b == Some('/') {
                    depth -= 1;
                    2
                } else {
                    1
                };
                for &ch in &s[i..(i + step).min(s.len())] {
                    blank(&mut code, ch);
                    blank(&mut bare, ch);
                }
                i += step;
                if depth == 0 {
                    break;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r'))) && (i == 0 || !ident(s[i - 1])) && {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            while s.get(j) == Some(&'#') {
                j += 1;
            }
            s.get(j) == Some(&'"')
        } {
            // Raw string: r"..", r#".."#, br#".."#.
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while s[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            for &ch in &s[i..j] {
                code.push(ch);
                bare.push(ch);
            }
            i = j;
            while i < s.len() {
                if s[i] == '"' && (0..hashes).all(|k| s.get(i + 1 + k) == Some(&'#')) {
                    for &ch in &s[i..i + 1 + hashes] {
                        code.push(ch);
                        bare.push(ch);
                    }
                    i += 1 + hashes;
                    break;
                }
                code.push(s[i]);
                blank(&mut bare, s[i]);
                i += 1;
            }
        } else if c == '"' || (c == '\'' && is_char_literal(&s, i)) {
            code.push(c);
            bare.push(c);
            i += 1;
            while i < s.len() && s[i] != c {
                let step = if s[i] == '\\' { 2 } else { 1 };
                for &ch in &s[i..(i + step).min(s.len())] {
                    code.push(ch);
                    blank(&mut bare, ch);
                }
                i += step;
            }
            if i < s.len() {
                code.push(c);
                bare.push(c);
                i += 1;
            }
        } else {
            code.push(c);
            bare.push(c);
            i += 1;
        }
    }
    Lexed { code, bare }
}

/// `'x'` or `'\n'`, as opposed to a lifetime `'a`.
fn is_char_literal(s: &[char], i: usize) -> bool {
    match s.get(i + 1) {
        Some('\\') => true,
        Some(_) => s.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// Splits a source into (non-test code with comments and literals blanked, test code with
/// comments blanked): every item under `#[cfg(test)]` goes to the test side.
fn split_tests(src: &str) -> (String, String) {
    let Lexed { code, bare } = lex(src);
    let mut non_test = String::new();
    let mut test = String::new();
    let mut from = 0;
    let marker = "#[cfg(test)]";
    while let Some(at) = bare[from..].find(marker).map(|p| p + from) {
        non_test.push_str(&bare[from..at]);
        // The item ends at its first `;` before any `{`, or where its first `{` is closed.
        let mut depth = 0usize;
        let mut end = bare.len();
        for (k, ch) in bare[at + marker.len()..].char_indices() {
            match ch {
                ';' if depth == 0 => {
                    end = at + marker.len() + k + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + marker.len() + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        test.push_str(&code[at..end]);
        test.push('\n');
        from = end;
    }
    non_test.push_str(&bare[from..]);
    (non_test, test)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (relative path, text) of some files.
type Texts = Vec<(String, String)>;

/// (relative path, non-test text) of every source and (relative path, test text) of every
/// test file or test module.
fn tree() -> (Texts, Texts) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut src_dirs = vec![root.join("apigw/src")];
    let mut test_dirs = vec![root.join("apigw/tests")];
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        src_dirs.push(krate.join("src"));
        test_dirs.push(krate.join("tests"));
    }
    let rel = |p: &Path| {
        p.strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/")
    };
    let (mut sources, mut tests) = (Vec::new(), Vec::new());
    for dir in &src_dirs {
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        for f in files {
            let (non_test, test) = split_tests(&std::fs::read_to_string(&f).unwrap());
            sources.push((rel(&f), non_test));
            tests.push((rel(&f), test));
        }
    }
    for dir in &test_dirs {
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        for f in files {
            if rel(&f) != THIS_FILE {
                tests.push((rel(&f), lex(&std::fs::read_to_string(&f).unwrap()).code));
            }
        }
    }
    (sources, tests)
}

/// `codes::NAME` as a whole path segment (not `codes::NAME2`).
fn names(text: &str, code: &str) -> bool {
    let needle = format!("codes::{code}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn every_emitted_code_is_produced_and_tested_and_no_other_is_produced() {
    let (sources, tests) = tree();
    assert!(
        sources.len() > 20 && tests.len() > 20,
        "the source tree was not found"
    );
    let mut problems = Vec::new();
    for row in ALL {
        let producers: Vec<&str> = sources
            .iter()
            .filter(|(_, text)| names(text, row.code))
            .map(|(path, _)| path.as_str())
            .collect();
        if EXEMPT.contains(&row.code) {
            continue;
        }
        if !row.emitted {
            if !producers.is_empty() {
                problems.push(format!(
                    "{} is marked `emitted: false` but {} produce it",
                    row.code,
                    producers.join(", ")
                ));
            }
            continue;
        }
        if producers.is_empty() {
            problems.push(format!(
                "{} is marked `emitted: true` but no source outside tests names `codes::{}`",
                row.code, row.code
            ));
        }
        let literal = format!("\"{}\"", row.code);
        if !tests
            .iter()
            .any(|(_, text)| text.contains(&literal) || names(text, row.code))
        {
            problems.push(format!(
                "{} is marked `emitted: true` but no test asserts it (`{literal}` or `codes::{}` \
                 in apigw/tests, crates/*/tests or a #[cfg(test)] module)",
                row.code, row.code
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn exemptions_are_rows_still_waiting() {
    let (sources, tests) = tree();
    for code in EXEMPT {
        let row = ALL.iter().find(|r| r.code == *code);
        // Until the other change lands, the row may be missing or not yet produced; once it is
        // produced and tested, the exemption must go.
        let done = row.is_some_and(|r| r.emitted)
            && sources.iter().any(|(_, t)| names(t, code))
            && tests
                .iter()
                .any(|(_, t)| t.contains(&format!("\"{code}\"")) || names(t, code));
        assert!(
            !done,
            "{code} is produced and tested: remove it from EXEMPT"
        );
    }
}

#[test]
fn test_items_comments_and_literals_do_not_count_as_producers() {
    let src = r##"
use apigw_model::codes;
fn real() { let _ = &codes::I404DO; let _c = '{'; let _l: &'static str = "}"; }
// codes::I404NF in a comment
/* nested /* codes::I404NF */ codes::I404NF */
fn quoted() -> &'static str { "codes::I404NF" }
fn raw() -> &'static str { r#"codes::I404NF { "# }
#[cfg(test)]
mod tests {
    fn t() { let s = "}"; assert_eq!(super::codes::A400IK.code, "A400IK"); }
}
fn after() { let _ = &codes::I400SG; }
#[cfg(test)]
use codes::A403IS;
"##;
    let (non_test, test) = split_tests(src);
    assert!(names(&non_test, "I404DO"));
    assert!(
        names(&non_test, "I400SG"),
        "code after a test module counts"
    );
    assert!(!names(&non_test, "I404NF"), "{non_test}");
    assert!(!names(&non_test, "A400IK"));
    assert!(!names(&non_test, "A403IS"));
    assert!(test.contains("\"A400IK\"") && names(&test, "A400IK"));
    assert!(names(&test, "A403IS"));
    assert!(!test.contains("I404DO"));
    assert!(names("codes::I400HD)", "I400HD"));
    assert!(!names("codes::I400HDX", "I400HD"));
}
