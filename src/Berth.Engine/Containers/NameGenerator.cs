namespace Berth.Engine.Containers;

/// <summary>Docker-style "adjective_surname" names for containers created without --name.</summary>
public static class NameGenerator
{
    private static readonly string[] Adjectives =
    [
        "admiring", "amazing", "bold", "brave", "busy", "calm", "clever", "cool", "eager", "elated", "epic", "focused",
        "friendly", "gallant", "happy", "hopeful", "jolly", "keen", "kind", "loving", "lucid", "modest", "nifty",
        "optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting",
        "upbeat", "vibrant", "wizardly", "xenodochial", "youthful", "zealous", "zen",
    ];

    private static readonly string[] Surnames =
    [
        "albattani", "bardeen", "bohr", "cerf", "curie", "darwin", "dijkstra", "einstein", "euler", "feynman", "gauss",
        "hamilton", "hopper", "hypatia", "kepler", "knuth", "lamport", "liskov", "lovelace", "meitner", "newton",
        "noether", "pasteur", "perlman", "ritchie", "shannon", "sinoussi", "thompson", "torvalds", "turing", "wozniak",
    ];

    public static string Next(bool withSuffix)
    {
        string name = $"{Adjectives[Random.Shared.Next(Adjectives.Length)]}_{Surnames[Random.Shared.Next(Surnames.Length)]}";
        return withSuffix ? name + Random.Shared.Next(10) : name;
    }
}
