"""Write the bundled fine-tuning samples (recipes.txt, science.txt, nursery.txt).

Every sentence comes from templates and word lists written for this project,
so the texts are original and under the repository's licence. Run from the
repository root: ``python assets/data/make_samples.py``. Seeded: the same
files every time.
"""

import itertools
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def recipes(rng: random.Random) -> list[str]:
    veg = ["onion", "carrot", "leek", "pepper", "courgette", "celery", "shallot", "fennel", "garlic", "mushroom"]
    cuts = ["Chop", "Slice", "Dice", "Peel and chop", "Finely chop"]
    fats = ["butter", "olive oil", "a little oil"]
    baked = [("bread", 35), ("cake", 40), ("pie", 45), ("biscuits", 12), ("muffins", 20), ("potatoes", 50),
             ("tart", 30), ("flapjacks", 25)]
    dishes = ["soup", "stew", "curry", "risotto", "salad", "omelette", "sauce", "casserole", "pasta", "chowder"]
    pasta = [("spaghetti", 10), ("penne", 11), ("rice", 15), ("noodles", 4), ("lentils", 25), ("barley", 30)]
    spices = ["cumin", "paprika", "cinnamon", "nutmeg", "ginger", "chilli", "thyme", "oregano", "basil"]
    breads = ["bread", "toast", "flatbread", "sourdough", "cornbread"]
    bowls = [("flour", "sugar"), ("eggs", "sugar"), ("butter", "sugar"), ("oil", "vinegar"), ("yogurt", "honey"),
             ("cream", "vanilla"), ("milk", "eggs"), ("oats", "raisins")]
    out = []
    out += [f"{c} the {v} and fry it in {f} until soft." for c, v, f in itertools.product(cuts, veg, fats)]
    out += [f"Bake the {b} in a hot oven for {m} minutes." for b, m in baked]
    out += [f"Let the {b} cool on a rack before you cut it." for b, _ in baked]
    out += [f"Season the {d} with salt and pepper before serving." for d in dishes]
    out += [f"Stir the {d} over a low heat so that it does not burn." for d in dishes]
    out += [f"Bring a pot of salted water to the boil and cook the {p} for {m} minutes." for p, m in pasta]
    out += [f"Drain the {p} and keep it warm while you make the sauce." for p, _ in pasta]
    out += [f"Serve the {d} warm with a slice of {b}." for d, b in itertools.product(dishes, breads)]
    out += [f"Add a pinch of {s} to the {d} for a warmer taste." for s, d in itertools.product(spices, dishes)]
    out += [f"Whisk the {a} with the {b} in a large bowl." for a, b in bowls]
    out += [f"Fold the {a} gently into the {b} with a spoon." for a, b in bowls]
    out += [f"Grate the {c} over the {d} just before serving." for c, d in
            itertools.product(["cheese", "lemon zest", "nutmeg", "parmesan"], dishes)]
    out += [f"Simmer the {d} for {m} minutes with the lid on." for d, m in zip(dishes, itertools.cycle([10, 20, 30]))]
    return out


def science(rng: random.Random) -> list[str]:
    elements = [("hydrogen", "H", 1), ("helium", "He", 2), ("lithium", "Li", 3), ("carbon", "C", 6),
                ("nitrogen", "N", 7), ("oxygen", "O", 8), ("fluorine", "F", 9), ("neon", "Ne", 10),
                ("sodium", "Na", 11), ("magnesium", "Mg", 12), ("aluminium", "Al", 13), ("silicon", "Si", 14),
                ("phosphorus", "P", 15), ("sulfur", "S", 16), ("chlorine", "Cl", 17), ("argon", "Ar", 18),
                ("potassium", "K", 19), ("calcium", "Ca", 20), ("iron", "Fe", 26), ("copper", "Cu", 29),
                ("zinc", "Zn", 30), ("silver", "Ag", 47), ("tin", "Sn", 50), ("iodine", "I", 53),
                ("gold", "Au", 79), ("mercury", "Hg", 80), ("lead", "Pb", 82), ("uranium", "U", 92)]
    planets = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
    ordinals = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
    animals = {
        "mammal": ["whale", "dolphin", "bat", "horse", "elephant", "tiger", "mouse", "rabbit", "cow", "lion",
                   "goat", "bear"],
        "bird": ["eagle", "penguin", "owl", "robin", "sparrow", "ostrich", "parrot", "swan", "duck", "hawk"],
        "reptile": ["snake", "lizard", "crocodile", "turtle", "tortoise", "gecko", "iguana", "alligator"],
        "amphibian": ["frog", "toad", "newt", "salamander"],
        "fish": ["shark", "salmon", "trout", "cod", "tuna", "goldfish", "herring", "eel"],
        "insect": ["bee", "ant", "beetle", "butterfly", "moth", "wasp", "grasshopper", "ladybird"],
    }
    organs = [("heart", "pumps blood around the body"), ("lungs", "take oxygen from the air"),
              ("stomach", "breaks down food"), ("kidneys", "filter waste from the blood"),
              ("brain", "controls the rest of the body"), ("skin", "protects the body from germs"),
              ("liver", "cleans the blood and stores energy"), ("bones", "support the body and protect organs"),
              ("muscles", "move the bones"), ("eyes", "turn light into signals for the brain")]
    gases = ["oxygen", "nitrogen", "helium", "hydrogen", "neon", "argon", "chlorine"]
    metals = ["iron", "copper", "gold", "silver", "zinc", "aluminium", "tin", "lead"]
    facts = [
        "Water boils at one hundred degrees Celsius at sea level.",
        "Water freezes at zero degrees Celsius.",
        "Ice is water in its solid state.",
        "Steam is water in its gas state.",
        "Plants make their food from sunlight, water and carbon dioxide.",
        "Plants give off oxygen during the day.",
        "The Moon orbits the Earth about once a month.",
        "The Earth orbits the Sun once a year.",
        "The Earth turns on its axis once a day.",
        "The Sun is a star at the centre of our solar system.",
        "Light travels faster than sound.",
        "Sound cannot travel through empty space.",
        "A magnet attracts iron and steel.",
        "Opposite poles of two magnets attract each other.",
        "Like poles of two magnets push each other away.",
        "Electricity flows easily through copper wire.",
        "Rubber and plastic do not conduct electricity well.",
        "Gravity pulls objects towards the centre of the Earth.",
        "Friction slows down moving objects.",
        "Heat flows from a warmer object to a cooler one.",
        "Air is mostly nitrogen and oxygen.",
        "Rain forms when water vapour cools and condenses in clouds.",
        "A rainbow appears when sunlight is split by raindrops.",
        "Seeds need water and warmth to germinate.",
        "Bees carry pollen from flower to flower.",
        "Caterpillars turn into butterflies inside a chrysalis.",
        "Tadpoles grow into frogs.",
        "Fossils are the remains of living things preserved in rock.",
        "Volcanoes erupt when molten rock rises to the surface.",
        "Earthquakes happen when plates of the crust move suddenly.",
        "The blood carries oxygen from the lungs to the rest of the body.",
        "Teeth are covered in enamel, the hardest substance in the body.",
        "Salt dissolves in water but sand does not.",
        "Sugar dissolves faster in hot water than in cold water.",
        "Vinegar is an acid and soap is an alkali.",
        "Diamonds and graphite are both made of carbon.",
    ]
    out = []
    out += [f"The chemical symbol for {n} is {s}." for n, s, _ in elements]
    out += [f"The element {n} has the atomic number {z}." for n, _, z in elements]
    out += [f"{s} is the symbol of the element {n}." for n, s, _ in elements]
    out += [f"{p} is the {o} planet from the Sun." for p, o in zip(planets, ordinals)]
    out += [f"The {o} planet from the Sun is {p}." for p, o in zip(planets, ordinals)]
    out += ["Jupiter is the largest planet in the solar system.", "Mercury is the smallest planet in the solar system.",
            "Saturn is famous for its bright rings.", "Mars is called the red planet because of its rusty soil.",
            "Venus is the hottest planet in the solar system."]
    for group, names in animals.items():
        article = "an" if group[0] in "aeiou" else "a"
        for a in names:
            a_art = "an" if a[0] in "aeiou" else "a"
            out.append(f"{a_art.capitalize()} {a} is {article} {group}.")
            out.append(f"The {a} belongs to the group of animals called {group}s.")
    out += [f"The {o} {f}." for o, f in organs]
    out += [f"{g.capitalize()} is a gas at room temperature." for g in gases]
    out += [f"{m.capitalize()} is a metal that conducts electricity." for m in metals]
    out += [f"{m.capitalize()} is a solid metal at room temperature." for m in metals]
    out += facts
    return out


def nursery(rng: random.Random) -> list[str]:
    animals = ["cat", "dog", "duck", "hen", "pig", "lamb", "cow", "mouse", "frog", "owl", "fox", "bear", "goat"]
    sounds = {"cat": "miaow", "dog": "woof", "duck": "quack", "hen": "cluck", "pig": "oink", "lamb": "baa",
              "cow": "moo", "mouse": "squeak", "frog": "croak", "owl": "hoot", "fox": "yip", "bear": "growl",
              "goat": "maa"}
    homes = {"cat": "basket", "dog": "kennel", "duck": "pond", "hen": "henhouse", "pig": "sty", "lamb": "field",
             "cow": "barn", "mouse": "hole", "frog": "pond", "owl": "tree", "fox": "den", "bear": "cave",
             "goat": "hill"}
    adjs = ["little", "sleepy", "happy", "hungry", "small", "fluffy", "busy", "brave"]
    colours = ["red", "blue", "yellow", "green", "white", "brown"]
    things = ["ball", "hat", "boat", "kite", "cup", "drum", "boot", "coat"]
    times = ["in the morning", "at night", "after lunch", "in the rain", "in the sun"]
    out = []
    out += [f"The {a} says {sounds[a]}." for a in animals]
    out += [f"The {j} {a} sleeps in the {homes[a]}." for j, a in itertools.product(adjs[:4], animals)]
    out += [f"The {a} goes home to the {homes[a]} {t}." for a, t in itertools.product(animals, times)]
    out += [f"I have a {c} {t} and a {j} {a}." for c, t, j, a in
            rng.sample(list(itertools.product(colours, things, adjs, animals)), 60)]
    out += [f"One, two, three, the {a} ran up the {x}." for a, x in
            itertools.product(animals[:8], ["hill", "tree", "stairs"])]
    out += [f"Hop, hop, hop, said the {j} {a}." for j, a in rng.sample(list(itertools.product(adjs, animals)), 30)]
    return out


def write(name: str, lines: list[str], seed: int) -> None:
    rng = random.Random(seed)
    uniq = list(dict.fromkeys(lines))
    rng.shuffle(uniq)
    (HERE / name).write_text("\n".join(uniq) + "\n", encoding="utf-8")
    print(name, len(uniq))


if __name__ == "__main__":
    write("recipes.txt", recipes(random.Random(1)), 1)
    write("science.txt", science(random.Random(2)), 2)
    write("nursery.txt", nursery(random.Random(3)), 3)
