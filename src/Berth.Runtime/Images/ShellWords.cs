using System.Text;

namespace Berth.Runtime.Images;

/// <summary>The Dockerfile word processor: removes quotes and escapes and expands $VAR, ${VAR}, ${VAR:-word},
/// ${VAR:+word} (and the forms without ':') from the image's environment, as ENV, LABEL, EXPOSE... see it.</summary>
internal sealed class ShellWords
{
    private readonly IReadOnlyList<string> _env;
    private readonly char _escape;
    private string _text = "";
    private int _pos;

    /// <summary><paramref name="escape"/>: the Dockerfile's escape character (`# escape=`), '\\' by default.</summary>
    public ShellWords(IReadOnlyList<string>? env, char escape = '\\')
    {
        _env = env ?? [];
        _escape = escape;
    }

    /// <summary>One word out of the text, whitespace kept.</summary>
    public string Word(string text) => string.Concat(Process(text, split: false));

    /// <summary>Words split at unquoted whitespace, including whitespace that an unquoted variable brought.</summary>
    public List<string> Words(string text) => Process(text, split: true);

    private List<string> Process(string text, bool split)
    {
        var (savedText, savedPos) = (_text, _pos);
        (_text, _pos) = (text, 0);
        try
        {
            var words = new List<string>();
            var current = new StringBuilder();
            bool started = false; // a quoted empty string still makes a word
            void EndWord()
            {
                if (started || current.Length > 0) words.Add(current.ToString());
                current.Clear();
                started = false;
            }
            while (_pos < _text.Length)
            {
                char c = _text[_pos++];
                if (c == _escape)
                {
                    if (_pos < _text.Length) current.Append(_text[_pos++]);
                    continue;
                }
                switch (c)
                {
                    case '\'':
                        started = true;
                        int close = _text.IndexOf('\'', _pos);
                        if (close < 0) throw new ImageException("unexpected end of statement while looking for matching single-quote");
                        current.Append(_text, _pos, close - _pos);
                        _pos = close + 1;
                        break;
                    case '"':
                        started = true;
                        DoubleQuoted(current);
                        break;
                    case '$':
                        string value = Variable();
                        if (!split) { current.Append(value); break; }
                        // Unquoted expansion splits into words.
                        for (int i = 0; i < value.Length; i++)
                        {
                            if (char.IsWhiteSpace(value[i])) EndWord();
                            else current.Append(value[i]);
                        }
                        break;
                    default:
                        if (split && char.IsWhiteSpace(c)) EndWord();
                        else current.Append(c);
                        break;
                }
            }
            EndWord();
            return words;
        }
        finally { (_text, _pos) = (savedText, savedPos); }
    }

    private void DoubleQuoted(StringBuilder current)
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos++];
            if (c == '"') return;
            if (c == _escape && _pos < _text.Length && (_text[_pos] is '"' or '$' || _text[_pos] == _escape)) current.Append(_text[_pos++]);
            else if (c == '$') current.Append(Variable());
            else current.Append(c);
        }
        throw new ImageException("unexpected end of statement while looking for matching double-quote");
    }

    /// <summary>After a '$': the value, or "$" itself when no name follows.</summary>
    private string Variable()
    {
        if (_pos < _text.Length && _text[_pos] == '{')
        {
            _pos++;
            string name = Name();
            if (name.Length == 0) throw new ImageException($"failed to process \"{_text}\": missing ':' in substitution");
            if (_pos >= _text.Length) throw new ImageException($"failed to process \"{_text}\": missing '}}'");
            char next = _text[_pos];
            if (next == '}') { _pos++; return Lookup(name) ?? ""; }
            bool colon = next == ':';
            if (colon) _pos++;
            char modifier = _pos < _text.Length ? _text[_pos++] : '\0';
            if (modifier is not ('-' or '+')) throw new ImageException($"failed to process \"{_text}\": unsupported modifier ({modifier}) in substitution");
            string word = Word(ModifierText());
            string? value = Lookup(name);
            bool set = colon ? !string.IsNullOrEmpty(value) : value is not null;
            return modifier == '-' ? (set ? value! : word) : (set ? word : "");
        }
        string plain = Name();
        return plain.Length == 0 ? "$" : Lookup(plain) ?? "";
    }

    /// <summary>The text of a ${name:-word} word up to its closing brace, nested braces included.</summary>
    private string ModifierText()
    {
        int depth = 0, start = _pos;
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == '\\') { _pos += 2; continue; }
            if (c == '{') depth++;
            if (c == '}' && depth-- == 0) { _pos++; return _text[start..(_pos - 1)]; }
            _pos++;
        }
        throw new ImageException($"failed to process \"{_text}\": missing '}}'");
    }

    private string Name()
    {
        int start = _pos;
        while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
        return _text[start.._pos];
    }

    private string? Lookup(string name)
    {
        for (int i = _env.Count - 1; i >= 0; i--)
        {
            string entry = _env[i];
            if (entry.Length > name.Length && entry[name.Length] == '=' && entry.StartsWith(name, StringComparison.Ordinal))
                return entry[(name.Length + 1)..];
        }
        return null;
    }
}
