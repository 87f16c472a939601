//! Unit tests of the parent module.

use super::*;

#[test]
fn contractions() {
    assert_eq!(special_split("don't"), Some(&[2][..]));
    assert_eq!(special_split("Can’t"), Some(&[2][..]));
    assert_eq!(special_split("couldn't've"), Some(&[5, 8][..]));
    assert_eq!(special_split("dont"), Some(&[2][..]));
    assert_eq!(special_split("I'm"), Some(&[1][..]));
    assert_eq!(special_split("we'll"), Some(&[2][..]));
    assert_eq!(special_split("well"), None);
    assert_eq!(special_split("its"), None);
    assert_eq!(special_split("hes"), Some(&[2][..]));
    assert_eq!(special_split("Mr."), Some(&[][..]));
    assert_eq!(special_split("10am"), Some(&[2][..]));
    assert_eq!(special_split("DON'T"), None);
}

#[test]
fn urls() {
    assert!(is_url("https://example.com/a?b=c"));
    assert!(is_url("www.rust-lang.org"));
    assert!(is_url("user@example.org"));
    assert!(!is_url("foo.bar()"));
    assert!(!is_url("Example.COM"));
    assert!(is_url("8.8.8.8"));
    assert!(!is_url("192.168.1.1"));
}
