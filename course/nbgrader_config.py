# nbgrader configuration for the coursekit course. Paths are relative to this folder (the course directory):
# the instructor's source notebooks live in ../solutions and the student release is written to ../assignments.
import os

from coursekit.course.config import GradingConfig

c = get_config()  # noqa: F821 - provided by nbgrader
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "coursekit"
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "assignments")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# The release says where it came from.
c.IncludeHeaderFooter.header = os.path.join(here, "release_header.ipynb")
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# coursekit's grading (coursekit/course/config.py, the same settings `coursekit autograde` passes to a course
# configured for stock nbgrader): submissions normalised against the release; kernels sandboxed on scratch copies
# with per-cell CPU-second limits from timeouts.json; hidden tests judged in this process by course/judges/;
# feedback without hidden test code. An edited test cell runs as the instructor wrote it and keeps what it earns
# (edited_test_scores_zero=True makes it a zero).
GradingConfig(course_dir=here, release_dir=os.path.join(here, "..", "assignments"),
              edited_test_scores_zero=False).apply(c)

# Output kept in graded notebooks.
c.LimitOutput.max_lines = 200
