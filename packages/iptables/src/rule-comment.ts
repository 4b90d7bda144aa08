/** xtables stores a comment in 256 bytes including its NUL. */
const MAX_COMMENT_LENGTH = 255;

/**
 * Makes text from the API safe as one `--comment` argument. The model already validates names, but a rule
 * comment is the one place API text reaches iptables-restore's parser, so it is sanitised again here:
 * quotes, backslashes, newlines and anything outside printable ASCII become '_'.
 */
export function ruleComment(text: string): string {
  return text.replace(/[^A-Za-z0-9 ./:_>\[\]-]/g, '_').slice(0, MAX_COMMENT_LENGTH);
}
