#!/usr/bin/env python3
"""Synthetic children's stories from a hand-written story grammar (pure Python, no dependencies, deterministic).

    python3 training/stories.py --n 3 --seed 7          # print three stories
    python3 training/stories.py --stats 2000            # variety statistics

Why: the permissive corpus has only ~0.35 M tokens of children's text and is dominated by documentation, so a model
trained on it alone loops or drifts into documentation prose when it continues a story opening. These stories teach
plain, grammatical, past-tense narrative English: a hero (one of many animals or people, with a name or without)
in a setting, a problem (something lost, a friend who is ill or sad, a place to reach, a storm, a fear, something
to learn or build, a strange find), attempts that fail, a helper met on the way with quoted dialogue, a
resolution, a feeling and an ending. Every choice is drawn from `rng` (a `random.Random`), so a seed fixes the
output; the number of distinct stories is astronomically large (see --stats), so the model has to learn the
grammar rather than memorise stories.

The text is generated here, from templates written for KVPilot: no third-party text, no licence issue.
"""
import argparse
import random

# ------------------------------------------------------------------------------------------------ vocabulary
GIRLS = ["Lily", "Anna", "Mia", "Rosa", "Emma", "Lucy", "Clara", "Daisy", "Ella", "Grace", "Hannah", "Ivy", "Jane",
         "Kate", "Lena", "Maya", "Nora", "Olive", "Poppy", "Ruby", "Sara", "Tilly", "Wren", "Zoe", "Amy", "Beth",
         "Cora", "Dora", "Eva", "Fay", "Greta", "Hazel", "Iris", "Molly", "Nell", "Pearl", "Rose", "Sophie", "Tess",
         "Violet", "Bella", "Millie", "Alice", "Lottie", "May", "Ada", "Elsie", "Holly"]
BOYS = ["Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Finn", "Noah", "Oscar", "Theo", "Hugo", "Felix", "Otto",
        "Peter", "Toby", "Alfie", "Charlie", "Eli", "Harry", "Jamie", "Kit", "Luke", "Milo", "Ned", "Ollie", "Pip",
        "Ralph", "Ted", "Will", "Arthur", "Bobby", "Danny", "Eddie", "Fred", "George", "Henry", "Jasper", "Louis",
        "Martin", "Robin", "Simon", "Timmy", "Walter", "Billy", "Sid", "Rufus", "Barney", "Dan"]
ANIMALS = ["rabbit", "fox", "bear", "mouse", "owl", "duck", "cat", "dog", "squirrel", "frog", "turtle", "deer",
           "hedgehog", "pig", "goat", "lamb", "bird", "kitten", "puppy", "horse", "cow", "hen", "badger", "otter",
           "beaver", "mole", "goose", "sparrow", "robin", "donkey", "pony", "bunny", "chick", "lion", "elephant",
           "monkey", "tiger", "giraffe", "penguin", "seal", "whale", "crab", "snail", "bee", "ladybird", "wolf",
           "raccoon", "koala", "panda", "zebra", "camel", "dragon"]
PEOPLE_F = ["girl", "old woman", "princess", "queen", "farmer's daughter", "baker", "fisherwoman", "grandmother"]
PEOPLE_M = ["boy", "old man", "prince", "king", "farmer", "baker", "fisherman", "grandfather", "shepherd boy"]
ADJ = ["little", "small", "young", "old", "brave", "shy", "kind", "clever", "curious", "happy", "busy", "gentle",
       "sleepy", "tiny", "big", "cheerful", "quiet", "proud", "friendly", "silly", "careful", "hungry", "clumsy",
       "lonely", "wise", "playful"]
COLOURS = ["red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "white", "black", "golden",
           "silver", "grey", "spotted", "striped"]
HOMES = ["in a small house near the river", "in a big forest", "on a farm at the edge of the village",
         "in a hole under an old oak tree", "in a little town by the sea", "in a cottage on the hill",
         "in a busy city", "in a nest high in a pine tree", "in a green valley between two mountains",
         "near a quiet pond", "in a warm burrow under the meadow", "in a castle with tall towers",
         "on a small island", "in a house with a red door", "at the end of a long, winding road",
         "in a garden full of flowers", "in a hollow log by the stream", "in a village at the foot of a mountain",
         "in a barn full of hay", "beside a wide lake", "in a snowy land far to the north", "in a sunny field"]
PLACES = ["forest", "garden", "meadow", "field", "park", "wood", "valley", "village", "orchard", "farmyard",
          "hill", "beach", "river bank", "market", "yard"]
PREP = {"hill": "on", "beach": "on", "river bank": "on", "market": "at"}  # default "in"


def at(place):  # "in the forest", "on the hill"
    return f"{PREP.get(place, 'in')} the {place}"
TIMES = ["One morning", "One sunny morning", "One day", "One cold winter day", "One rainy afternoon",
         "One evening", "Early one morning", "One windy day", "One bright spring day", "One warm summer evening",
         "On the first day of autumn", "Late one night", "The next morning", "One snowy morning"]
OPEN_TIMES = ["Once upon a time", "Long ago", "Long, long ago", "Many years ago", "Once"]
OBJECTS = [("ball", "round"), ("hat", "soft"), ("kite", "light"), ("key", "shiny"), ("scarf", "warm"),
           ("book", "old"), ("boat", "wooden"), ("bell", "small"), ("basket", "big"), ("shoe", "new"),
           ("ring", "tiny"), ("blanket", "soft"), ("drum", "little"), ("cup", "pretty"), ("box", "heavy"),
           ("feather", "long"), ("marble", "glass"), ("whistle", "tin"), ("lantern", "bright"), ("map", "old"),
           ("toy train", "wooden"), ("teddy bear", "soft"), ("button", "shiny"), ("spoon", "silver"),
           ("umbrella", "big"), ("coat", "warm"), ("necklace", "pretty"), ("flute", "wooden")]
FOODS = ["apples", "berries", "carrots", "honey", "nuts", "bread", "cheese", "cherries", "pears", "plums",
         "seeds", "cakes", "pies", "mushrooms", "acorns", "corn", "pumpkins", "strawberries"]
HIDE = ["under a big leaf", "behind a rock", "in a pile of leaves", "under the bridge", "in the tall grass",
        "next to the old well", "under a bush", "inside a hollow tree", "near the pond", "on a high branch",
        "behind the barn", "in the sand", "under the bed", "beside the garden gate", "in the mud by the river",
        "between two stones"]
GOAL_PLACES = [("the top of the hill", "climb to"), ("the other side of the river", "get to"),
               ("the big lake", "walk to"), ("the sea", "see"), ("the town market", "go to"),
               ("the old lighthouse", "visit"), ("the tall mountain", "climb"), ("the island", "sail to"),
               ("the end of the rainbow", "find"), ("the castle", "visit"), ("the top of the tallest tree", "reach")]
SKILLS = [("swim", "swimming", "jumped into the water and splashed", "the water"),
          ("fly", "flying", "flapped and flapped", "the air"),
          ("read", "reading", "looked at the letters for a long time", "the book"),
          ("ride a bike", "riding", "wobbled and fell over", "the path"),
          ("whistle", "whistling", "blew and blew, but only air came out", "the song"),
          ("skate", "skating", "slipped on the ice", "the ice"),
          ("climb trees", "climbing", "slid down the trunk", "the tree"),
          ("sing", "singing", "opened " + "{pos}" + " mouth, but only a squeak came out", "the song"),
          ("dance", "dancing", "tripped over " + "{pos}" + " own feet", "the music"),
          ("jump over the fence", "jumping", "ran fast but stopped at the fence", "the fence")]
BUILD = [("a little boat", "sticks and string"), ("a house for the winter", "mud and straw"),
         ("a swing", "rope and a board"), ("a nest", "twigs and moss"), ("a snowman", "snow"),
         ("a bridge over the stream", "stones and logs"), ("a kite", "paper and sticks"),
         ("a cake for a birthday", "flour, eggs and sugar"), ("a sandcastle", "wet sand"),
         ("a tree house", "planks and nails"), ("a sled", "wood and rope")]
FEARS = ["the dark", "the thunder", "the deep water", "the big dog next door", "the tall ladder", "the wind",
         "the noises at night", "the old bridge", "the shadows in the wood"]
EMO_GOOD = ["happy", "glad", "proud", "very happy", "so happy", "full of joy", "thankful"]
EMO_BAD = ["sad", "worried", "upset", "unhappy", "very sad", "scared", "cross"]
SAY = ["said", "said", "said", "asked", "cried", "called", "replied", "whispered", "shouted", "answered"]
HELP_ACTIONS = ["looked under every bush", "searched the whole {place}", "asked everyone {pro} met",
                "walked up and down the path", "called out again and again", "looked high and low"]
ENDINGS = ["From that day on, {a} and {b} were the best of friends.",
           "After that, {a} always remembered to be careful.",
           "That night, {a} fell asleep with a big smile.",
           "And {a} never forgot that day.",
           "{A} learned that it is good to ask for help.",
           "{A} learned that friends make hard things easy.",
           "Everyone agreed that it was the best day of the year.",
           "The next day, {a} went to visit {b} again.",
           "{A} thanked {b} many times, and then {pro} went home.",
           "And they all lived happily ever after.",
           "It had been a long day, but it was a good one.",
           "Then they shared some {food}, and everyone was happy."]


def an(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def cap(s):
    return s[0].upper() + s[1:]


class Char:
    """A story character: named or not, animal or person, with pronouns."""

    def __init__(self, rng, avoid=()):
        self.female = rng.random() < 0.5
        if rng.random() < 0.7:
            self.kind = rng.choice(ANIMALS)
        else:
            self.kind = rng.choice(PEOPLE_F if self.female else PEOPLE_M)
        self.adj = rng.choice(ADJ)
        if self.kind in ("old woman", "old man") and self.adj in ("old", "young", "little", "tiny", "small"):
            self.adj = "kind"
        pool = [n for n in (GIRLS if self.female else BOYS) if n not in avoid]
        self.name = rng.choice(pool) if rng.random() < 0.75 else None
        self.pro, self.obj, self.pos = ("she", "her", "her") if self.female else ("he", "him", "his")

    def intro(self):  # "a little rabbit named Pip" / "a kind old man"
        base = an(f"{self.adj} {self.kind}")
        return f"{base} named {self.name}" if self.name else base

    @property
    def ref(self):  # how the story calls the character
        return self.name if self.name else f"the {self.kind}"

    @property
    def Ref(self):
        return cap(self.ref)


def R(rng, *options):
    return rng.choice(options)


# ------------------------------------------------------------------------------------------------ story parts
def opening(rng, h):
    home = rng.choice(HOMES)
    likes = R(rng, f"loved to play {at(rng.choice(PLACES))}", f"liked to eat {rng.choice(FOODS)}",
              "liked to sing songs", "loved to run and jump", f"had {an(rng.choice(COLOURS))} {rng.choice(OBJECTS)[0]}",
              "had many friends", "liked to help others", "was always asking questions",
              f"loved to watch the birds {at(rng.choice(PLACES))}", "did not like to be alone")
    ot = rng.choice(OPEN_TIMES)
    s = R(rng,
          f"{ot}, there was {h.intro()} who lived {home}.",
          f"{ot}, {h.intro()} lived {home}.",
          f"There was once {h.intro()} who lived {home}.",
          f"{ot}, {home}, there lived {h.intro()}.")
    s2 = f"{h.Ref} {likes}."
    if rng.random() < 0.3:
        s2 += " " + R(rng, f"Every day {h.pro} {R(rng, 'played', 'worked', 'walked', 'sang')} "
                           f"from morning until night.",
                      f"{cap(h.pro)} was {R(rng, 'a good friend to everyone', 'very small for '+h.pos+' age', 'the youngest in '+h.pos+' family', 'never still for a minute')}.")
    return [s, s2]


def scene(rng, h):
    place = rng.choice(PLACES)
    return R(rng,
             f"{rng.choice(TIMES)}, {h.ref} walked slowly through the {place}.",
             f"{rng.choice(TIMES)}, {h.ref} went out to play {at(place)}.",
             f"{rng.choice(TIMES)}, {h.ref} woke up early and went to the {place}.",
             f"{rng.choice(TIMES)}, the sun was shining and {h.ref} ran down to the {place}.",
             f"{rng.choice(TIMES)}, {h.ref} was walking home from the {place}."), place


def problem(rng, h, place):
    """-> (kind, sentences, detail dict)"""
    k = rng.choice(["lost", "lost", "reach", "sad_friend", "learn", "build", "fear", "find", "hungry", "storm"])
    P, pos = h.pro, h.pos
    if k == "lost":
        obj, oadj = rng.choice(OBJECTS)
        col = rng.choice(COLOURS)
        s = [R(rng, f"{h.Ref} had {an(col)} {obj} that {P} loved very much.",
               f"{h.Ref} always carried {pos} {oadj} {col} {obj}."),
             R(rng, f"But when {P} looked for it, the {obj} was gone!",
               f"But somewhere {at(place)}, {P} dropped it, and the {obj} was lost.",
               f"But that day {P} could not find {pos} {obj} anywhere.")]
        return k, s, {"obj": obj, "col": col}
    if k == "reach":
        gp, verb = rng.choice(GOAL_PLACES)
        s = [f"{h.Ref} wanted to {verb} {gp}.",
             R(rng, f"But it was very far away, and {P} did not know the way.",
               f"But the path was long and steep, and {P} was very small.",
               f"But a wide river was in the way.")]
        return k, s, {"gp": gp, "verb": verb}
    if k == "sad_friend":
        f = Char(rng, avoid=(h.name,))
        ill = R(rng, "was ill in bed", "was sad because it was raining", "had hurt " + f.pos + " leg",
                "felt lonely", "had a cold and could not go out")
        s = [f"{h.Ref} had a friend, {f.intro()}.", f"But {f.ref} {ill}.",
             f"{h.Ref} wanted to make {f.obj} feel better."]
        return k, s, {"friend": f}
    if k == "learn":
        sk = rng.choice(SKILLS)
        s = [R(rng, f"{h.Ref} wanted to learn to {sk[0]}.", f"More than anything, {h.ref} wished {P} could {sk[0]}."),
             R(rng, f"All the others could {sk[0]}, but {h.ref} could not.", f"It looked very easy, but it was not.")]
        return k, s, {"skill": sk}
    if k == "build":
        b, mat = rng.choice(BUILD)
        s = [f"{h.Ref} wanted to make {b}.", f"{cap(P)} needed {mat}, but {P} did not have enough."]
        return k, s, {"build": b, "mat": mat}
    if k == "fear":
        fe = rng.choice(FEARS)
        s = [f"{h.Ref} was afraid of {fe}.",
             R(rng, f"Every time {P} thought about it, {pos} knees began to shake.",
               f"When {P} saw it, {P} wanted to run and hide.")]
        return k, s, {"fear": fe}
    if k == "find":
        obj, oadj = rng.choice(OBJECTS)
        thing = R(rng, "a strange door", f"{an(oadj)} {obj}", "a tiny house", "a secret path", "a glowing stone",
                  "a little egg", "an old chest", "a note in a bottle")
        s = [f"{cap(at(place))}, {P} found {thing}.",
             R(rng, f"{h.Ref} had never seen anything like it before.", f"{cap(P)} did not know what it was."),
             R(rng, f"Where did it come from?", f"Who did it belong to?", f"What should {P} do?")]
        return k, s, {"thing": thing}
    if k == "hungry":
        food = rng.choice(FOODS)
        s = [f"{h.Ref} was very hungry.",
             f"{cap(P)} looked for {food}, but there were none left {at(place)}."]
        return k, s, {"food": food}
    # storm
    s = [R(rng, "Suddenly, dark clouds came over the sky.", "Then the wind began to blow, and the rain came down."),
         f"The storm broke the roof of {h.pos} house, and {h.ref} had nowhere to stay."]
    return "storm", s, {}


def feeling(rng, h, good):
    e = rng.choice(EMO_GOOD if good else EMO_BAD)
    return R(rng, f"{h.Ref} felt {e}.", f"{h.Ref} was {e}.", f"This made {h.ref} feel {e}.")


def attempts(rng, h, k, d, place):
    P, pos = h.pro, h.pos
    out = []
    if k == "lost":
        out.append(f"{cap(P)} " + rng.choice(HELP_ACTIONS).format(place=place, pro=P) + ".")
        out.append(R(rng, f"{cap(P)} looked {rng.choice(HIDE)}, but the {d['obj']} was not there.",
                     f"{cap(P)} even looked {rng.choice(HIDE)}, but {P} found nothing."))
    elif k == "reach":
        out.append(R(rng, f"{cap(P)} walked and walked until {pos} feet hurt.",
                     f"{cap(P)} tried to go alone, but soon {P} was lost."))
    elif k == "sad_friend":
        out.append(R(rng, f"{cap(P)} thought and thought about what to do.",
                     f"{cap(P)} tried to tell a funny story, but {d['friend'].ref} did not laugh."))
    elif k == "learn":
        sk = d["skill"]
        out.append(f"{cap(P)} tried, and {P} " + sk[2].format(pos=pos) + ".")
        out.append(R(rng, f"{cap(P)} tried again and again, but it did not work.", f"{cap(P)} was ready to give up."))
    elif k == "build":
        out.append(R(rng, f"{cap(P)} tried to use leaves instead, but they blew away.",
                     f"{cap(P)} worked all morning, but it fell down."))
    elif k == "fear":
        out.append(f"{cap(P)} stayed at home and did not want to go out.")
    elif k == "find":
        out.append(R(rng, f"{cap(P)} picked it up and looked at it carefully.", f"{cap(P)} walked around it three times."))
    elif k == "hungry":
        out.append(f"{cap(P)} searched everywhere, but {pos} tummy was still empty.")
    else:
        out.append(f"{cap(P)} tried to fix the roof, but {P} could not reach it.")
    out.append(feeling(rng, h, False))
    return out


def helper_part(rng, h, k, d, place):
    """The helper arrives, dialogue with quotes, and the resolution."""
    helper = d.get("friend") if k == "sad_friend" and rng.random() < 0.2 else Char(rng, avoid=(h.name,))
    if helper is d.get("friend"):
        helper = Char(rng, avoid=(h.name, d["friend"].name))
    P = h.pro
    arrive = R(rng, f"Just then, {helper.intro()} came by.", f"Then {P} met {helper.intro()}.",
               f"Soon {helper.intro()} came walking along the path.",
               f"At that moment, {helper.intro()} looked out from behind a tree.")
    hs = helper.ref
    q = R(rng, f'"Why are you so sad?" asked {hs}.', f'"What is wrong?" asked {hs}.',
          f'"Hello, {h.name}," said {hs}. "Why do you look so {rng.choice(EMO_BAD)}?"' if h.name else
          f'"Hello," said {hs}. "Can I help you?"',
          f'"Can I help you?" asked {hs}.')
    if k == "lost":
        a = f'"I lost my {d["col"]} {d["obj"]}," {rng.choice(["said", "cried", "answered"])} {h.ref}.'
        reply = R(rng, f'"I saw something {d["col"]} {rng.choice(HIDE)}," said {hs}. "Come with me."',
                  f'"I will help you look," said {hs}. "Two pairs of eyes are better than one."')
        res = [R(rng, f"Together they went back to the {place}.", "They looked together."),
               f"And there it was, {rng.choice(HIDE)}! "
               + R(rng, f"{h.Ref} picked up {h.pos} {d['obj']} and hugged it.",
                   f'"My {d["obj"]}!" cried {h.ref}.')]
    elif k == "reach":
        a = f'"I want to {d["verb"]} {d["gp"]}, but I do not know the way," said {h.ref}.'
        reply = R(rng, f'"I know the way," said {hs}. "Follow me."',
                  f'"Climb on my back," said {hs}. "I will take you there."',
                  f'"We can go together," said {hs}. "It is not so far with a friend."')
        res = [R(rng, "They set off together.", "So they went together, step by step."),
               f"At last they reached {d['gp']}. "
               + R(rng, "From there they could see the whole world.", "It was even more beautiful than "
                   + h.ref + " had dreamed.")]
    elif k == "sad_friend":
        f = d["friend"]
        a = f'"My friend {f.ref} is not well, and I want to cheer {f.obj} up," said {h.ref}.'
        food = rng.choice(FOODS)
        reply = R(rng, f'"Let us bring {f.obj} some {food}," said {hs}.',
                  f'"We can sing {f.obj} a song," said {hs}.',
                  f'"Let us make {f.obj} a card with a flower on it," said {hs}.')
        res = [f"So they went to see {f.ref} together.",
               R(rng, f"When {f.ref} saw them, {f.pro} smiled for the first time that day.",
                 f'"Thank you," said {f.ref}. "You are the best friends in the world."')]
    elif k == "learn":
        sk = d["skill"]
        a = f'"I want to {sk[0]}, but I cannot do it," said {h.ref}.'
        reply = R(rng, f'"Do not give up," said {hs}. "Start slowly, and try a little every day."',
                  f'"I will show you," said {hs}. "Watch me carefully."')
        res = [f"{helper.Ref} showed {h.ref} what to do, and {h.ref} tried once more.",
               R(rng, f"This time it worked! {h.Ref} was {sk[1]}!", f"Slowly, slowly, {h.ref} got better, "
                 f"and at the end of the day {P} could {sk[0]}.")]
    elif k == "build":
        a = f'"I want to make {d["build"]}, but I do not have enough {d["mat"]}," said {h.ref}.'
        reply = R(rng, f'"I have some at home," said {hs}. "You can have them."',
                  f'"Let us make it together," said {hs}.')
        res = ["They worked side by side all afternoon.",
               f"At last, {d['build'].replace('a ', 'the ', 1)} was ready, and it was beautiful."]
    elif k == "fear":
        a = f'"I am afraid of {d["fear"]}," said {h.ref} in a small voice.'
        reply = R(rng, f'"Everyone is afraid of something," said {hs}. "I will stay with you."',
                  f'"Hold my hand," said {hs}. "We will be brave together."')
        res = [f"With {hs} beside {h.obj}, {h.ref} was not so afraid any more.",
               R(rng, f"Soon {P} even laughed at {d['fear']}.", f"{cap(P)} found that {d['fear']} was not so bad after all.")]
    elif k == "find":
        a = f'"I found {d["thing"]}, but I do not know what to do with it," said {h.ref}.'
        reply = R(rng, f'"Let us find out together," said {hs}.', f'"I think I know who it belongs to," said {hs}.')
        res = [R(rng, f"They followed the path until they came to a little house, and an old owl opened the door.",
                 f"They asked the wise old owl, who knew everything."),
               R(rng, f"It belonged to the owl, who had lost it long ago, and the owl was so glad that "
                      f"{P} gave {h.ref} a jar of honey.",
                 f"The owl told them that it was a magic gift, and that it would bring good luck to anyone "
                 f"who was kind.")]
    elif k == "hungry":
        a = f'"I am so hungry, and I cannot find any {d["food"]}," said {h.ref}.'
        reply = R(rng, f'"I have plenty," said {hs}. "Come and share my dinner."',
                  f'"I know a place where {d["food"]} grow," said {hs}. "Come with me."')
        res = [R(rng, f"So they ate together until they were full.",
                 f"{helper.Ref} took {h.ref} to a place full of {d['food']}, and they ate until they were full.")]
    else:
        a = f'"The storm broke my house, and I have nowhere to sleep," said {h.ref}.'
        reply = R(rng, f'"You can stay with me tonight," said {hs}. "Tomorrow we will fix your roof."',
                  f'"Do not worry," said {hs}. "My house is warm and dry."')
        res = [f"The next day, {hs} and all the neighbours came to help.", "By the evening, the roof was as good as new."]
    return helper, [arrive, q, a, reply], res


def story(rng):
    """One story: several paragraphs separated by blank lines, past tense, with dialogue."""
    h = Char(rng)
    paras = [opening(rng, h)]
    sc, place = scene(rng, h)
    k, prob, d = problem(rng, h, place)
    paras.append([sc] + prob)
    paras.append(attempts(rng, h, k, d, place))
    helper, talk, res = helper_part(rng, h, k, d, place)
    paras.append(talk)
    end = res + [feeling(rng, h, True)]
    if rng.random() < 0.6:
        end.append(R(rng, f'"Thank you, {helper.ref}," said {h.ref}.' if helper.name else f'"Thank you," said {h.ref}.',
                     f'"You are a true friend," said {h.ref}.', f'"I could not have done it without you," said {h.ref}.'))
    e = rng.choice(ENDINGS).format(a=h.ref, A=h.Ref, b=helper.ref, pro=h.pro, food=rng.choice(FOODS))
    paras.append(end + [e] if rng.random() < 0.5 else end)
    if paras[-1][-1] is not e:
        paras.append([e])
    # sometimes merge paragraphs so that the layout varies
    out = []
    for p in paras:
        if out and rng.random() < 0.25:
            out[-1] = out[-1] + p
        else:
            out.append(list(p))
    return "\n\n".join(" ".join(p) for p in out)


def stories(seed, n):
    rng = random.Random(seed)
    return [story(rng) for _ in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stats", type=int, default=0, help="generate this many stories and print variety stats")
    a = ap.parse_args()
    if a.stats:
        import time
        t = time.time()
        ss = stories(a.seed, a.stats)
        dt = time.time() - t
        words = sum(len(s.split()) for s in ss)
        print(f"{a.stats} stories in {dt:.2f}s ({a.stats / dt:.0f}/s), {words / a.stats:.0f} words each, "
              f"{len(set(ss))} distinct, {len(set(x for s in ss for x in s.split('. ')))} distinct sentence pieces")
        return
    for s in stories(a.seed, a.n):
        print(s, end="\n\n-----\n\n")


if __name__ == "__main__":
    main()
